import { defineScenario } from '../scenario.js';

/**
 * How many agents one process carries: production timings (scale 1), 20 jobs worth of copies, one node
 * crashed and restarted. Run with `--nodes N` to try other sizes; figures in docs/results/.
 */
export const scenario = defineScenario({
  name: 'many-agents',
  description: 'production timings; n1 crashes for 60 s and comes back',
  nodes: 50,
  scale: 1,
  jobs: [
    { name: 'web', count: 10, on: 'n0' },
    { name: 'edge', count: 10, on: 'n2' },
  ],
  steps: [
    { at: 0, do: { kind: 'crash', node: 'n1' } },
    { at: 60, do: { kind: 'restart', node: 'n1' } },
  ],
});
