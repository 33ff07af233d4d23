import { defineScenario, range } from '../scenario.js';

const others = range(0, 5);

/**
 * Seed 000: "Worker cannot reach Master, but Master can reach Worker". For 120 s (simulated) nothing n5 sends
 * gets through (its bytes are held, as unacknowledged TCP segments are; no new connection can be made either
 * way), while bytes towards n5 still arrive on the connections that were open.
 */
export const scenario = defineScenario({
  name: 'one-way-out',
  description: 'n5 → others cut for 120 s (simulated); others → n5 still flows on open connections',
  steps: [
    ...others.map((o) => ({ at: 0, do: { kind: 'cut' as const, from: 'n5', to: o } })),
    { at: 120, do: { kind: 'heal' } },
  ],
});
