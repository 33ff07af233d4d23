import { defineScenario } from '../scenario.js';

/**
 * Seed 000: "very low bandwidth". Every link: 4 KB/s each way (token bucket), 300 ms latency ± 100 ms jitter,
 * in real time. Then a job arrives and a node crashes, so state and placement must move over the thin links.
 */
export const scenario = defineScenario({
  name: 'low-bandwidth',
  description: 'every link 4 KB/s, 300 ms ± 100 ms (real time); a job submitted and a node crashed over it',
  steps: [
    { at: 0, do: { kind: 'link', a: '*', b: '*', latencyMs: 300, jitterMs: 100, bytesPerSecond: 4_096 } },
    { at: 30, do: { kind: 'submit', job: 'late', count: 4, on: 'n3' } },
    { at: 60, do: { kind: 'crash', node: 'n4' } },
  ],
});
