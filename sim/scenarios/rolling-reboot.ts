import { defineScenario } from '../scenario.js';

const NODES = 6;

/** Every device reboots in turn (10 s down, 40 s apart, simulated): work moves off each and the fleet heals. */
export const scenario = defineScenario({
  name: 'rolling-reboot',
  description: 'each of 6 nodes powered off for 10 s, one every 40 s (simulated)',
  nodes: NODES,
  steps: Array.from({ length: NODES }, (_, i) => [
    { at: i * 40, do: { kind: 'crash' as const, node: `n${i}` } },
    { at: i * 40 + 10, do: { kind: 'restart' as const, node: `n${i}` } },
  ]).flat(),
});
