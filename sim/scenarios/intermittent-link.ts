import { defineScenario, range } from '../scenario.js';

/**
 * Seed 000: "intermittent connectivity". n5's link flaps: first 4 s down / 4 s up (shorter than lostAfter:
 * nothing should move), then 40 s down / 40 s up (longer: its work is replaced each time and the duplicates are
 * resolved on every return).
 */
export const scenario = defineScenario({
  name: 'intermittent-link',
  description: 'n5 flaps: 4 s down/4 s up for 60 s, then 40 s down/40 s up for 160 s (simulated)',
  steps: [
    { at: 0, do: { kind: 'flap', groups: [range(0, 5), ['n5']], periodS: 8, untilS: 60 } },
    { at: 60, do: { kind: 'flap', groups: [range(0, 5), ['n5']], periodS: 80, untilS: 220 } },
  ],
});
