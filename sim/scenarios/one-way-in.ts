import { range, type Scenario } from '../scenario.js';

const others = range(0, 5);

/**
 * Seed 000: "Master cannot reach Worker, but Worker can reach Master": the mirror of one-way-out. n5 hears
 * nothing for 120 s (simulated) while what it sends still arrives on the connections that were open.
 */
export const scenario: Scenario = {
  name: 'one-way-in',
  description: 'others → n5 cut for 120 s (simulated); n5 → others still flows on open connections',
  nodes: 6,
  scale: 4,
  jobs: [
    { name: 'web', count: 3, on: 'n0' },
    { name: 'edge', count: 5, on: 'n2' },
  ],
  steps: [
    ...others.map((o) => ({ at: 0, do: { kind: 'cut' as const, from: o, to: 'n5' } })),
    { at: 120, do: { kind: 'heal' } },
  ],
  settleS: 300,
};
