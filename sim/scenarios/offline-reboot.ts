import { defineScenario } from '../scenario.js';

/**
 * Issue 19 (Nomad #24629, #15783; KubeEdge #6414): n1 loses its network, then power, and boots while still cut
 * off. It must run its own copies again at once from its replica, without waiting for a peer, and start nobody
 * else's work while it hears no one (the report's `reboots`). The heal later leaves every job at its count.
 */
export const scenario = defineScenario({
  name: 'offline-reboot',
  description:
    'n1 isolated, powered off while isolated, booted while still isolated, rejoined later (simulated)',
  steps: [
    { at: 0, do: { kind: 'isolate', node: 'n1' } },
    { at: 10, do: { kind: 'crash', node: 'n1' } },
    { at: 20, do: { kind: 'restart', node: 'n1' } },
    { at: 80, do: { kind: 'rejoin', node: 'n1' } },
  ],
});
