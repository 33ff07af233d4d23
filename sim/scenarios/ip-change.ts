import { defineScenario } from '../scenario.js';

/**
 * Seed 000: "IP address changes". n3, then n0 (the node everyone joined through), move to a new address:
 * every connection they had breaks and the address peers remember is dead. Their workloads keep running.
 */
export const scenario = defineScenario({
  name: 'ip-change',
  description: 'n3 and then n0 (everyone’s join address) move to new addresses',
  steps: [
    { at: 0, do: { kind: 'ip-change', node: 'n3' } },
    { at: 60, do: { kind: 'ip-change', node: 'n0' } },
    { at: 90, do: { kind: 'submit', job: 'late', count: 4, on: 'n0' } },
  ],
});
