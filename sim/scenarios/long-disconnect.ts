import { defineScenario, range } from '../scenario.js';

/**
 * Seed 000: "Master and Worker disconnected for extended periods". n5 loses its network for 10 simulated
 * minutes (30 lost-periods) but keeps running its workloads; the rest replace them. On return exactly `count`
 * copies remain, by the job's reconcile rule, and nothing that kept running restarts.
 */
export const scenario = defineScenario({
  name: 'long-disconnect',
  description: 'n5 cut off from everyone for 600 s (simulated) while its workloads keep running',
  jobs: [
    { name: 'web', count: 3, on: 'n0' },
    { name: 'db', count: 1, on: 'n1' },
    { name: 'edge', count: 5, on: 'n2' },
  ],
  steps: [
    { at: 0, do: { kind: 'partition', groups: [range(0, 5), ['n5']] } },
    { at: 600, do: { kind: 'heal' } },
  ],
});
