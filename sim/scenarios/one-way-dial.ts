import { defineScenario, range } from '../scenario.js';

const others = range(0, 5);

/**
 * One-way reachability as NAT makes it: nobody can open a connection to n5, n5 can open connections to
 * everyone, and a connection n5 opened carries bytes both ways. Every link is also reset once (n5 crashes
 * and restarts) so that the mesh must be rebuilt from n5's side alone.
 */
export const scenario = defineScenario({
  name: 'one-way-dial',
  description:
    'n5 behind a NAT: others cannot dial it; n5 restarts and must rebuild its links by dialling out',
  steps: [
    ...others.map((o) => ({ at: 0, do: { kind: 'no-dial' as const, from: o, to: 'n5' } })),
    { at: 5, do: { kind: 'crash', node: 'n5' } },
    { at: 10, do: { kind: 'restart', node: 'n5' } },
    { at: 60, do: { kind: 'submit', job: 'late', count: 6, on: 'n0' } },
  ],
});
