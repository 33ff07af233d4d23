import { defineScenario } from '../scenario.js';

/**
 * Seed 000: "Worker offline for extended periods". n5 is powered off for half a simulated hour (90 lost-periods;
 * at scale 8 that is under four real minutes) and boots on its data dir: it must rejoin, learn what changed while it
 * was away (a job submitted in the meantime), and not resurrect work that moved.
 */
export const scenario = defineScenario({
  name: 'node-offline-long',
  description:
    'n5 powered off for 1800 s (simulated) and restarted on its data dir; a job is submitted meanwhile',
  scale: 8,
  steps: [
    { at: 0, do: { kind: 'crash', node: 'n5' } },
    { at: 600, do: { kind: 'submit', job: 'late', count: 4, on: 'n1' } },
    { at: 1800, do: { kind: 'restart', node: 'n5' } },
  ],
});
