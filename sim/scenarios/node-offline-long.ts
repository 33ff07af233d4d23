import type { Scenario } from '../scenario.js';

/**
 * Seed 000: "Worker offline for extended periods". n5 is powered off for one simulated hour (180 lost-periods;
 * at scale 12 that is five real minutes) and boots on its data dir: it must rejoin, learn what changed while it
 * was away (a job submitted in the meantime), and not resurrect work that moved.
 */
export const scenario: Scenario = {
  name: 'node-offline-long',
  description: 'n5 powered off for 3600 s (simulated) and restarted on its data dir; a job is submitted meanwhile',
  nodes: 6,
  scale: 12,
  jobs: [
    { name: 'web', count: 3, on: 'n0' },
    { name: 'edge', count: 5, on: 'n2' },
  ],
  steps: [
    { at: 0, do: { kind: 'crash', node: 'n5' } },
    { at: 600, do: { kind: 'submit', job: 'late', count: 4, on: 'n1' } },
    { at: 3600, do: { kind: 'restart', node: 'n5' } },
  ],
  settleS: 240,
};
