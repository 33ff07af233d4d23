import { defineScenario } from '../scenario.js';

/**
 * 30 % of gossip messages are lost on receipt at every node, for the whole run: heartbeats, state deltas and
 * allocation reports. A job arrives, a node crashes and comes back; anti-entropy must repair what gossip lost.
 */
export const scenario = defineScenario({
  name: 'message-loss',
  description: '30 % gossip message loss everywhere; a job submitted, a node crashed and restarted',
  steps: [
    { at: 0, do: { kind: 'loss', fraction: 0.3 } },
    { at: 20, do: { kind: 'submit', job: 'late', count: 4, on: 'n1' } },
    { at: 40, do: { kind: 'crash', node: 'n4' } },
    { at: 100, do: { kind: 'restart', node: 'n4' } },
  ],
});
