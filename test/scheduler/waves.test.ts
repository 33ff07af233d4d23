import { describe, expect, test } from 'vitest';
import { deriveJobStatus } from '../../src/scheduler/job-status.js';
import { place } from '../../src/scheduler/placement.js';
import { deriveRollout, movesNow } from '../../src/scheduler/rollout.js';
import type { Desired, SchedAllocation, SchedJob } from '../../src/scheduler/types.js';
import { waveShares, waveState } from '../../src/scheduler/waves.js';
import { alive, job, merge, node, slotOf, started, versioned, web } from './fixtures.js';

const nodes = ['a', 'b', 'c', 'd', 'e'].map((id) => node(id));
const everyone = alive(['a', 'b', 'c', 'd', 'e']);

const judge = (actual: SchedAllocation[], version: number, healthy: boolean, slots?: number[]) =>
  actual.map((a) =>
    a.jobVersion === version && a.verdict === undefined && (slots === undefined || slots.includes(slotOf(a)))
      ? { ...a, verdict: { healthy, at: 5, ...(healthy ? {} : { reason: 'health check failed' }) } }
      : a,
  );

function apply(actual: readonly SchedAllocation[], d: Desired, at: number): SchedAllocation[] {
  const stopped = new Set(d.stops.map((s) => s.allocId));
  const known = new Set(actual.map((a) => a.allocId));
  return merge(
    actual.map((a) => (stopped.has(a.allocId) ? { ...a, state: 'complete' as const } : a)),
    started(d, at).filter((a) => !known.has(a.allocId)),
  );
}
const liveOn = (actual: SchedAllocation[], version: number) =>
  actual
    .filter((a) => a.jobVersion === version && a.state === 'running')
    .map(slotOf)
    .sort((x, y) => x - y);

function stable(j: SchedJob): SchedAllocation[] {
  return judge(started(place([j], nodes, [], everyone, 0)), 1, true);
}

describe('waveShares', () => {
  test('rounds each cumulative share up, so every wave moves at least one slot when there are slots', () => {
    expect(waveShares([10, 25, 100], 10)).toEqual([1, 3, 10]);
    expect(waveShares([10, 25, 100], 3)).toEqual([1, 1, 3]);
    expect(waveShares([50, 100], 0)).toEqual([0, 0]);
  });

  test('the current wave is the first not wholly judged; a wave fails past its own failure budget', () => {
    const none = new Set<number>();
    expect(waveState([10, 30, 100], 10, 0, { healthy: new Set([0]), unhealthy: none })).toEqual({
      current: 1,
      shares: [1, 3, 10],
      unhealthy: [],
    });
    // Slot 5 judged early does not skip wave 2: slots 1 and 2 are not judged yet.
    expect(waveState([10, 30, 100], 10, 0, { healthy: new Set([0, 5]), unhealthy: none }).current).toBe(1);
    expect(waveState([10, 30, 100], 10, 0, { healthy: new Set([0]), unhealthy: new Set([2]) }).failed).toBe(
      1,
    );
    // 1 of wave 3's 7 slots is within a 0.2 budget, 2 are not.
    const budget = (bad: number[]) =>
      waveState([10, 30, 100], 10, 0.2, { healthy: new Set([0, 1, 2]), unhealthy: new Set(bad) }).failed;
    expect(budget([4])).toBeUndefined();
    expect(budget([4, 9])).toBe(2);
  });
});

describe('waves through placement', () => {
  test('10 → 30 → 100 %: each wave moves only once the one before is judged healthy', () => {
    const update = { maxParallel: 10, waves: [10, 30, 100] };
    let actual = stable(web(1, 10, update));
    const v2 = web(2, 10, update);
    const step = (now: number) => {
      const d = place([v2], nodes, actual, everyone, now);
      actual = apply(actual, d, now);
      return d.rollouts[0]!;
    };
    expect(step(10)).toMatchObject({ phase: 'running', wave: { index: 1, total: 3, percent: 10, slots: 1 } });
    expect(liveOn(actual, 2)).toEqual([0]);
    step(11);
    expect(liveOn(actual, 2)).toEqual([0]);
    actual = judge(actual, 2, true);
    expect(step(12)).toMatchObject({ wave: { index: 2, slots: 3 } });
    expect(liveOn(actual, 2)).toEqual([0, 1, 2]);
    actual = judge(actual, 2, true);
    expect(step(13)).toMatchObject({ wave: { index: 3, slots: 10 } });
    expect(liveOn(actual, 2)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    actual = judge(actual, 2, true);
    const done = step(14);
    expect(done.phase).toBe('complete');
    expect(done.wave).toBeUndefined();
  });

  test('a failed wave reverts without autoRevert, and every slot goes back to the last stable version', () => {
    const update = { maxParallel: 10, waves: [10, 30, 100] };
    let actual = stable(web(1, 10, update));
    const v2 = web(2, 10, update);
    actual = apply(actual, place([v2], nodes, actual, everyone, 10), 10);
    actual = judge(actual, 2, true);
    actual = apply(actual, place([v2], nodes, actual, everyone, 11), 11);
    actual = judge(actual, 2, false, [2]);
    const d = place([v2], nodes, actual, everyone, 12);
    expect(d.rollouts[0]).toMatchObject({
      phase: 'reverted',
      target: 1,
      wave: { index: 2, total: 3 },
      failure: { version: 2, reason: 'health check failed' },
    });
    let next = apply(actual, d, 12);
    for (let now = 13; now < 20; now++) {
      next = judge(next, 1, true);
      next = apply(next, place([v2], nodes, next, everyone, now), now);
    }
    expect(liveOn(next, 2)).toEqual([]);
    expect(liveOn(next, 1)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('a failure within the budget holds no move: its slot is settled, its old copy keeps serving', () => {
    const update = { maxParallel: 1, waves: [100], maxFailureRatio: 0.25 };
    let actual = stable(web(1, 4, update));
    const v2 = web(2, 4, update);
    actual = apply(actual, place([v2], nodes, actual, everyone, 10), 10);
    actual = judge(actual, 2, false, [0]);
    const d = place([v2], nodes, actual, everyone, 11);
    expect(d.rollouts[0]).toMatchObject({ phase: 'running', wave: { tolerated: [0] } });
    expect(movesNow(d.rollouts[0]!, ['moving', 'outdated', 'outdated', 'outdated'])).toEqual([1]);
    actual = apply(actual, d, 11);
    // Slot 0's unhealthy copy gave way to its old one, which serves alone for the rest of the rollout.
    expect(liveOn(actual, 2)).toEqual([1]);
    expect(liveOn(actual, 1)).toEqual([0, 1, 2, 3]);
    // A second failure of four passes the budget of a quarter: back to v1.
    actual = judge(actual, 2, false, [1]);
    expect(place([v2], nodes, actual, everyone, 12).rollouts[0]).toMatchObject({
      phase: 'reverted',
      target: 1,
    });
  });

  test('a system job rolls out in waves of its devices', () => {
    const sys = (version: number) =>
      versioned(
        job('agent', {
          type: 'system',
          count: 0,
          driver: 'exec',
          update: { maxParallel: 5, waves: [20, 100] },
        }),
        version,
      );
    let actual = judge(started(place([sys(1)], nodes, [], everyone, 0)), 1, true);
    const d = place([sys(2)], nodes, actual, everyone, 10);
    expect(d.rollouts[0]).toMatchObject({ phase: 'running', wave: { index: 1, slots: 1 } });
    actual = apply(actual, d, 10);
    expect(actual.filter((a) => a.jobVersion === 2).map((a) => a.node)).toEqual(['a']);
  });
});

describe('manual promotion (autoPromote: false)', () => {
  test('waves: pauses after the first wave until the version is promoted; an early promotion skips no wave', () => {
    const update = { maxParallel: 10, waves: [10, 100], autoPromote: false };
    let actual = stable(web(1, 10, update));
    // Promoted before its first wave is judged: the wave still gates.
    const early = place([web(2, 10, update, [2])], nodes, actual, everyone, 10);
    expect(early.rollouts[0]).toMatchObject({ phase: 'running', wave: { index: 1 } });
    actual = judge(apply(actual, place([web(2, 10, update)], nodes, actual, everyone, 10), 10), 2, true);

    const paused = place([web(2, 10, update)], nodes, actual, everyone, 11);
    expect(paused.rollouts[0]).toMatchObject({ phase: 'paused', wave: { index: 1, slots: 1 } });
    expect(movesNow(paused.rollouts[0]!, ['settled', 'outdated', 'outdated'])).toEqual([]);
    actual = apply(actual, paused, 11);
    expect(liveOn(actual, 2)).toEqual([0]);
    // A promotion of another version does not count.
    expect(place([web(2, 10, update, [1])], nodes, actual, everyone, 12).rollouts[0]!.phase).toBe('paused');

    const promoted = place([web(2, 10, update, [2])], nodes, actual, everyone, 12);
    expect(promoted.rollouts[0]).toMatchObject({ phase: 'running', wave: { index: 2, slots: 10 } });
    actual = apply(actual, promoted, 12);
    expect(liveOn(actual, 2)).toHaveLength(10);
  });

  test('a first version does not wait: nothing older runs', () => {
    const update = { maxParallel: 10, waves: [10, 100], autoPromote: false };
    const first = web(1, 10, update);
    const half = judge(started(place([first], nodes, [], everyone, 0)), 1, true, [0, 1, 2, 3, 4]);
    expect(deriveRollout(first, half)).toMatchObject({ phase: 'running', wave: { index: 2 } });
  });

  test('canary: pauses once the canaries are healthy, until promoted', () => {
    const update = { maxParallel: 2, canary: 1, autoPromote: false };
    const actual = stable(web(1, 3, update));
    const canary = apply(actual, place([web(2, 3, update)], nodes, actual, everyone, 10), 10);
    expect(deriveRollout(web(2, 3, update), canary).phase).toBe('canary');
    const healthy = judge(canary, 2, true);
    expect(deriveRollout(web(2, 3, update), healthy).phase).toBe('paused');
    expect(deriveRollout(web(2, 3, update, [2]), healthy).phase).toBe('running');
  });
});

describe('job status lines', () => {
  const status = (j: SchedJob, actual: SchedAllocation[]) =>
    deriveJobStatus('web', {
      desired: 'running',
      type: 'service',
      version: j.version,
      count: j.count,
      allocations: actual,
      unplaced: [],
      rollout: deriveRollout(j, actual),
    }).rollout;

  test('say the wave, the promotion awaited and the wave that failed', () => {
    const update = { maxParallel: 10, waves: [10, 30, 100] };
    let actual = stable(web(1, 10, update));
    actual = apply(actual, place([web(2, 10, update)], nodes, actual, everyone, 10), 10);
    expect(status(web(2, 10, update), actual)).toBe(
      'rolling out v2: wave 1/3: 10% (1 of 10) may run v2, 0/10 healthy, 1 waiting for health',
    );
    actual = judge(actual, 2, true);
    const manual = { ...update, autoPromote: false };
    expect(status(web(2, 10, manual), actual)).toBe(
      'v2 awaiting promotion after wave 1/3 (10%): 1/10 healthy (meshctl job promote web)',
    );
    actual = apply(actual, place([web(2, 10, update)], nodes, actual, everyone, 11), 11);
    actual = judge(actual, 2, false, [1]);
    expect(status(web(2, 10, update), actual)).toBe(
      'rolled back to v1: v2 failed in wave 2/3: health check failed',
    );
  });
});
