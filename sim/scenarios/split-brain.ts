import { defineScenario, range } from '../scenario.js';

/** The fleet splits in two past lostAfter; each side gets a new job; after the heal every job runs `count`. */
export const scenario = defineScenario({
  name: 'split-brain',
  description: 'two halves cut apart for 60 s with a job submitted on each side, then healed',
  jobs: [
    { name: 'web', count: 2, on: 'n0' },
    { name: 'db', count: 1, on: 'n1' },
    { name: 'edge', count: 3, on: 'n4' },
  ],
  steps: [
    { at: 0, do: { kind: 'partition', groups: [range(0, 3), range(3, 6)] } },
    { at: 30, do: { kind: 'submit', job: 'left', count: 2, on: 'n1' } },
    { at: 30, do: { kind: 'submit', job: 'right', count: 2, on: 'n4' } },
    { at: 60, do: { kind: 'heal' } },
  ],
});
