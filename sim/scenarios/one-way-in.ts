import { defineScenario, range } from '../scenario.js';

const others = range(0, 5);

/**
 * Seed 000: "Master cannot reach Worker, but Worker can reach Master": the mirror of one-way-out. n5 hears
 * nothing for 120 s (simulated) while what it sends still arrives on the connections that were open.
 */
export const scenario = defineScenario({
  name: 'one-way-in',
  description: 'others → n5 cut for 120 s (simulated); n5 → others still flows on open connections',
  steps: [
    ...others.map((o) => ({ at: 0, do: { kind: 'cut' as const, from: o, to: 'n5' } })),
    { at: 120, do: { kind: 'heal' } },
  ],
});
