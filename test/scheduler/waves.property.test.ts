import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { allocId } from '../../src/scheduler/alloc-id.js';
import { place } from '../../src/scheduler/placement.js';
import { deriveRollout } from '../../src/scheduler/rollout.js';
import type { Desired, SchedAllocation, SchedUpdate } from '../../src/scheduler/types.js';
import { waveShares, waveState } from '../../src/scheduler/waves.js';
import { alive, merge, node, slotOf, started, web } from './fixtures.js';

const nodes = ['a', 'b', 'c', 'd', 'e'].map((id) => node(id));
const everyone = alive(['a', 'b', 'c', 'd', 'e']);

const live = (a: SchedAllocation) => a.state === 'running' || a.state === 'starting' || a.state === 'pending';

/** Applies a placement: stopped copies complete, new ones start unjudged. */
function apply(actual: readonly SchedAllocation[], d: Desired, at: number): SchedAllocation[] {
  const stopped = new Set(d.stops.map((s) => s.allocId));
  const known = new Set(actual.map((a) => a.allocId));
  return merge(
    actual.map((a) => (stopped.has(a.allocId) ? { ...a, state: 'complete' as const } : a)),
    started(d, at).filter((a) => !known.has(a.allocId)),
  );
}

/** Stable v1: every copy judged healthy. */
function stableV1(count: number, update: SchedUpdate): SchedAllocation[] {
  return started(place([web(1, count, update)], nodes, [], everyone, 0)).map((a) => ({
    ...a,
    verdict: { healthy: true, at: 1 },
  }));
}

const wavesArb = fc
  .uniqueArray(fc.integer({ min: 1, max: 99 }), { maxLength: 3 })
  .map((ps) => [...ps.sort((x, y) => x - y), 100]);

interface Run {
  /** Slots that ever had a copy of v2, in order first seen. */
  readonly everOnV2: Set<number>;
  readonly final: SchedAllocation[];
  readonly last: Desired;
  /** Per step: live v2 slots and the wave share derived at that step. */
  readonly steps: { onV2: number; share: number | undefined; phase: string }[];
}

/**
 * Drives a rollout to its end through `place` alone: each step places, applies, then judges some unjudged copies
 * of v2 (order and timing from the seed). `bad(slot)` says whether v2 fails its check in that slot.
 */
function drive(
  count: number,
  update: SchedUpdate,
  bad: (slot: number) => boolean,
  pick: (n: number, step: number) => number,
  failState: (slot: number) => 'failed' | 'running',
): Run {
  let actual = stableV1(count, update);
  const v2 = web(2, count, update);
  const everOnV2 = new Set<number>();
  const steps: Run['steps'] = [];
  let last = place([v2], nodes, actual, everyone, 10);
  for (let step = 0; step < 400; step++) {
    const now = 10 + step;
    last = place([v2], nodes, actual, everyone, now);
    const r = last.rollouts[0]!;
    actual = apply(actual, last, now);
    for (const a of actual) if (a.jobVersion === 2 && live(a)) everOnV2.add(slotOf(a));
    steps.push({
      onV2: new Set(actual.filter((a) => a.jobVersion === 2 && live(a)).map(slotOf)).size,
      share: r.phase === 'running' ? r.wave?.slots : undefined,
      phase: r.phase,
    });
    const unjudged = actual.filter((a) => a.verdict === undefined && live(a));
    if (unjudged.length === 0) {
      if (last.stops.length === 0 && last.allocs.every((a) => actual.some((b) => b.allocId === a.allocId)))
        break;
      continue;
    }
    // Judge some (at least one) of the unjudged copies, in an order the seed picks.
    const n = 1 + pick(unjudged.length, step);
    for (const a of unjudged.slice(0, n)) {
      const slot = slotOf(a);
      const fails = a.jobVersion === 2 && bad(slot);
      const judged: SchedAllocation = {
        ...a,
        verdict: { healthy: !fails, at: now, ...(fails ? { reason: 'health check failed' } : {}) },
        ...(fails ? { state: failState(slot), health: 'unhealthy' as const } : {}),
      };
      actual = merge(actual, [judged]);
    }
  }
  return { everOnV2, final: actual, last, steps };
}

describe('percentage waves, driven through placement for many seeds', () => {
  test('never more slots on the new version than the current wave lets on; a failed wave ends with none; a healthy one completes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        wavesArb,
        fc.integer({ min: 1, max: 4 }),
        fc.option(fc.integer({ min: 0, max: 11 }), { nil: undefined }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        (count, waves, maxParallel, firstBad, picks, failedState) => {
          const update: SchedUpdate = { maxParallel, waves };
          const bad = (slot: number) => firstBad !== undefined && slot >= firstBad;
          const run = drive(
            count,
            update,
            bad,
            (n, step) => picks[step % picks.length]! % n,
            () => (failedState ? 'failed' : 'running'),
          );
          const shares = waveShares(waves, count);
          // At every step, while rolling, the slots on v2 stay within the wave's share.
          for (const s of run.steps) if (s.share !== undefined) expect(s.onV2).toBeLessThanOrEqual(s.share);
          const failing = firstBad !== undefined && firstBad < count;
          if (failing) {
            // The wave holding the first bad slot is the last one that ever moved.
            const failedWave = shares.findIndex((share) => share > firstBad);
            expect(Math.max(...run.everOnV2)).toBeLessThan(shares[failedWave]!);
            expect(run.last.rollouts[0]).toMatchObject({ phase: 'reverted', target: 1 });
            expect(run.final.filter((a) => a.jobVersion === 2 && live(a))).toEqual([]);
            const v1Slots = new Set(run.final.filter((a) => a.jobVersion === 1 && live(a)).map(slotOf));
            expect(v1Slots.size).toBe(count);
          } else {
            expect(run.last.rollouts[0]).toMatchObject({ phase: 'complete', target: 2 });
            expect(run.final.filter((a) => a.jobVersion === 1 && live(a))).toEqual([]);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  test('every device derives the same rollout whatever order the statuses arrived in', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        wavesArb,
        fc.array(fc.constantFrom('none', 'healthy', 'unhealthy'), { minLength: 12, maxLength: 12 }),
        fc.integer({ min: 0, max: 1000 }),
        (count, waves, verdicts, seed) => {
          const v2 = web(2, count, { maxParallel: 2, waves, maxFailureRatio: 0.3 });
          const statuses = copiesWith(count, verdicts);
          const shuffled = [...statuses].sort(
            (x, y) => ((hash(x.allocId) ^ seed) % 97) - ((hash(y.allocId) ^ seed) % 97),
          );
          const derived = deriveRollout(v2, statuses);
          expect(JSON.stringify(deriveRollout(v2, shuffled))).toBe(JSON.stringify(derived));
          // The copies are read (ids this scheduler names), not skipped.
          expect(derived.counts.updated + derived.counts.unhealthy).toBeGreaterThan(0);
        },
      ),
    );
  });

  test('a device that hears only some statuses (a partitioned minority) derives the same wave or an earlier one, unless it knows of no failure the others know', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        wavesArb,
        fc.array(fc.constantFrom('none', 'healthy', 'unhealthy'), { minLength: 12, maxLength: 12 }),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        fc.constantFrom(0, 0.25, 0.5),
        (count, waves, verdicts, heard, ratio) => {
          const statuses = copiesWith(count, verdicts);
          const minority = statuses.filter((_, i) => heard[i]);
          const healthy = (list: SchedAllocation[], ok: boolean) =>
            new Set(list.filter((a) => a.verdict?.healthy === ok).map(slotOf));
          const all = waveState(waves, count, ratio, {
            healthy: healthy(statuses, true),
            unhealthy: healthy(statuses, false),
          });
          const part = waveState(waves, count, ratio, {
            healthy: healthy(minority, true),
            unhealthy: healthy(minority, false),
          });
          expect(part.current).toBeLessThanOrEqual(all.current);
          // A failure the minority knows of, everyone who hears more knows of too.
          if (part.failed !== undefined) expect(all.failed).toBeLessThanOrEqual(part.failed);
        },
      ),
    );
  });
});

/** Copies of v2 in slots 0..count-1, each with the verdict the array says (v1 copies all healthy). */
function copiesWith(count: number, verdicts: readonly string[]): SchedAllocation[] {
  const out: SchedAllocation[] = [];
  for (let slot = 0; slot < count; slot++) {
    const base = {
      job: 'web',
      node: 'a',
      state: 'running' as const,
      health: 'healthy' as const,
      restarts: 0,
    };
    out.push({
      ...base,
      allocId: allocId('web', 1, slot, 0, 'a'),
      jobVersion: 1,
      startedAt: 0,
      verdict: { healthy: true, at: 1 },
    });
    const v = verdicts[slot];
    out.push({
      ...base,
      allocId: allocId('web', 2, slot, 1, 'a'),
      jobVersion: 2,
      startedAt: 5,
      ...(v === 'none' ? {} : { verdict: { healthy: v === 'healthy', at: 10 + slot } }),
    });
  }
  return out;
}

function hash(text: string): number {
  let h = 0;
  for (const c of text) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h;
}
