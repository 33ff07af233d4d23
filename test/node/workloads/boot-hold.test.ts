import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bootHold, heldPlan } from '../../../src/node/workloads/boot-hold.js';
import type { DesiredAlloc, Plan } from '../../../src/scheduler/types.js';

const at = (now: number, meshHeardAt?: number) =>
  bootHold({ startedAt: 1_000, lostAfterMs: 500, meshHeardAt, now });

describe('boot hold', () => {
  it('holds from start until the lost period has passed', () => {
    expect(at(1_000)).toEqual({ holding: true, until: 1_500 });
    expect(at(1_499)).toEqual({ holding: true, until: 1_500 });
    expect(at(1_500)).toEqual({ holding: false });
  });

  it('ends as soon as the mesh is heard, not before', () => {
    expect(at(1_100, 1_100)).toEqual({ holding: false });
    expect(at(1_050, 1_100)).toEqual({ holding: true, until: 1_500 });
  });

  it('never holds once it has ended, whatever happens later', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.option(fc.integer({ min: 0, max: 10_000 })),
        (now, heard) => {
          const first = at(now, heard ?? undefined);
          if (!first.holding) expect(at(now + 1, heard ?? undefined).holding).toBe(false);
        },
      ),
    );
  });
});

const copy = (allocId: string): DesiredAlloc => ({ allocId }) as DesiredAlloc;
const plan: Plan = {
  start: [copy('mine.0'), copy('theirs.0')],
  stop: [{ allocId: 'old.0' } as Plan['stop'][number]],
  keep: [copy('kept.0')],
};

describe('held plan', () => {
  it('while holding: only restarts of this device’s own copies start; stops and keeps pass', () => {
    const held = heldPlan(plan, new Set(['mine.0']), { holding: true, until: 1 });
    expect(held.start.map((d) => d.allocId)).toEqual(['mine.0']);
    expect(held.stop).toBe(plan.stop);
    expect(held.keep).toBe(plan.keep);
  });

  it('once the hold is over: the plan as placed', () => {
    expect(heldPlan(plan, new Set(), { holding: false })).toBe(plan);
  });
});
