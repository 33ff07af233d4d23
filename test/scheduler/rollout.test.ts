import { describe, expect, test } from 'vitest';
import { place } from '../../src/scheduler/placement.js';
import { reconcile } from '../../src/scheduler/reconcile.js';
import { deriveRollout, movesNow } from '../../src/scheduler/rollout.js';
import type { Desired, SchedAllocation, SchedJob, SchedUpdate } from '../../src/scheduler/types.js';
import { alive, job, merge, node, started } from './fixtures.js';

const nodes = ['a', 'b', 'c', 'd', 'e'].map((id) => node(id));
const everyone = alive(['a', 'b', 'c', 'd', 'e']);

/** Version `version` of web, with every earlier version (same fields) in its history. */
function web(version: number, count: number, update: SchedUpdate): SchedJob {
  const base = job('web', { count, update, driver: 'exec' });
  const history = Array.from({ length: version - 1 }, (_, i) => {
    const { name: _n, status: _s, ...fields } = { ...base, version: i + 1 };
    return fields;
  });
  return { ...base, version, history };
}

const judged = (a: SchedAllocation, healthy: boolean, at: number, reason?: string): SchedAllocation => ({
  ...a,
  verdict: { healthy, at, ...(reason === undefined ? {} : { reason }) },
});

/** Applies a placement: stopped copies complete, new ones run (not yet judged). */
function apply(actual: readonly SchedAllocation[], d: Desired, at: number): SchedAllocation[] {
  const stopped = new Set(d.stops.map((s) => s.allocId));
  const known = new Set(actual.map((a) => a.allocId));
  return merge(
    actual.map((a) => (stopped.has(a.allocId) ? { ...a, state: 'complete' as const } : a)),
    started(d, at).filter((a) => !known.has(a.allocId)),
  );
}

/** The v1 world with every copy judged healthy. */
function stableV1(count: number, update: SchedUpdate): SchedAllocation[] {
  return started(place([web(1, count, update)], nodes, [], everyone, 0)).map((a) => judged(a, true, 1));
}

const movedTo = (d: Desired, version: number, before: readonly SchedAllocation[]) =>
  d.allocs
    .filter((a) => a.jobVersion === version && !before.some((b) => b.allocId === a.allocId))
    .map((a) => a.slot);

describe('rollout order', () => {
  test('canary slots move first, together; the rest wait until every canary is healthy, then go maxParallel at a time', () => {
    const update = { maxParallel: 1, canary: 2 };
    let actual = stableV1(5, update);
    const v2 = web(2, 5, update);

    const first = place([v2], nodes, actual, everyone, 10);
    expect(first.rollouts[0]).toMatchObject({ phase: 'canary', target: 2, canary: 2 });
    expect(movedTo(first, 2, actual)).toEqual([0, 1]);
    actual = apply(actual, first, 10);

    // One canary healthy is not enough.
    actual = actual.map((a) =>
      a.jobVersion === 2 && a.allocId.startsWith('web.0.') ? judged(a, true, 11) : a,
    );
    const waiting = place([v2], nodes, actual, everyone, 11);
    // The healthy canary's old copy stops; the other keeps serving beside its unjudged canary.
    expect(waiting.stops.map((x) => [x.allocId.split('.')[1], x.reason])).toEqual([['0', 'updated']]);
    expect(waiting.rollouts[0]).toMatchObject({
      phase: 'canary',
      counts: { updated: 2, healthy: 1, pending: 1 },
    });

    actual = actual.map((a) => (a.jobVersion === 2 && a.verdict === undefined ? judged(a, true, 12) : a));
    const next = place([v2], nodes, actual, everyone, 12);
    expect(next.rollouts[0]).toMatchObject({ phase: 'running' });
    expect(movedTo(next, 2, actual)).toEqual([2]);
  });

  test('movesNow: no moves once failed, canaries only while they are unsettled, else the budget in slot order', () => {
    const base = deriveRollout(web(2, 4, { maxParallel: 2, canary: 1 }), []);
    expect(base.phase).toBe('canary');
    expect(movesNow(base, ['outdated', 'outdated', 'outdated', 'outdated'])).toEqual([0]);
    // A failed copy's slot being refilled is in transition: it holds the canary back.
    expect(movesNow(base, ['outdated', 'moving', 'outdated', 'outdated'])).toEqual([]);
    const running = { ...base, phase: 'running' as const };
    expect(movesNow(running, ['settled', 'moving', 'outdated', 'outdated'])).toEqual([2]);
    expect(movesNow(running, ['settled', 'idle', 'outdated', 'outdated'])).toEqual([2, 3]);
    expect(
      movesNow({ ...running, phase: 'failed' }, ['outdated', 'outdated', 'outdated', 'outdated']),
    ).toEqual([]);
    expect(movesNow({ ...running, maxParallel: undefined }, ['moving', 'outdated', 'outdated'])).toEqual([
      1, 2,
    ]);
  });

  test('a version is stable only once every slot has had a healthy copy of it', () => {
    const update = { maxParallel: 3, autoRevert: true };
    const v1 = started(place([web(1, 3, update)], nodes, [], everyone, 0));
    const twoOfThree = v1.map((a, i) => (i < 2 ? judged(a, true, 1) : a));
    expect(deriveRollout(web(1, 3, update), twoOfThree).phase).toBe('running');
    expect(
      deriveRollout(
        web(1, 3, update),
        v1.map((a) => judged(a, true, 1)),
      ).phase,
    ).toBe('complete');
  });
});

describe('autoRevert', () => {
  const update = { maxParallel: 1, autoRevert: true };

  function failedV2(reason: string) {
    let actual = stableV1(3, update);
    const v2 = web(2, 3, update);
    const d = place([v2], nodes, actual, everyone, 10);
    actual = apply(actual, d, 10);
    actual = actual.map((a) => (a.jobVersion === 2 ? judged(a, false, 20, reason) : a));
    return { v2, actual };
  }

  test('a copy judged unhealthy (a failing check, or healthyDeadline passed) reverts to the last stable version', () => {
    const { v2, actual } = failedV2('not healthy within healthyDeadline (1000 ms)');
    const d = place([v2], nodes, actual, everyone, 21);
    const [v2Copy] = actual.filter((a) => a.jobVersion === 2);
    expect(d.rollouts[0]).toEqual({
      job: 'web',
      latest: 2,
      target: 1,
      phase: 'reverted',
      failure: {
        version: 2,
        allocId: v2Copy!.allocId,
        node: v2Copy!.node,
        at: 20,
        reason: 'not healthy within healthyDeadline (1000 ms)',
      },
      canary: 0,
      maxParallel: 1,
      // The slot's v1 copy never stopped: it served beside the failing v2 copy and is the target again.
      counts: { total: 3, updated: 3, healthy: 3, pending: 0, unhealthy: 1 },
    });
    expect(d.stops).toMatchObject([{ allocId: v2Copy!.allocId, reason: 'updated' }]);
    expect(d.allocs.map((a) => a.jobVersion)).toEqual([1, 1, 1]);
  });

  test('the failed version is never the target again until a newer one is submitted, however the copies end', () => {
    const { v2, actual: failed } = failedV2('health check failed: exit 1');
    let actual = apply(failed, place([v2], nodes, failed, everyone, 21), 21);
    for (let t = 22; t < 30; t++) {
      // The reverted copies turn healthy; nothing about v2 changes, and no copy of it is ever placed again.
      actual = actual.map((a) => (a.verdict === undefined ? judged(a, true, t) : a));
      const d = place([v2], nodes, actual, everyone, t);
      expect(d.rollouts[0]).toMatchObject({ target: 1, phase: 'reverted' });
      expect(d.allocs.filter((a) => a.jobVersion === 2)).toEqual([]);
      actual = apply(actual, d, t);
    }
    const v3 = web(3, 3, update);
    const d = place([v3], nodes, actual, everyone, 30);
    expect(d.rollouts[0]).toMatchObject({ target: 3, phase: 'running' });
    expect(movedTo(d, 3, actual)).toEqual([0]);
  });

  test('without autoRevert a failed rollout stops where it is', () => {
    const noRevert = { maxParallel: 1 };
    let actual = stableV1(3, noRevert);
    const v2 = web(2, 3, noRevert);
    actual = apply(actual, place([v2], nodes, actual, everyone, 10), 10);
    actual = actual.map((a) => (a.jobVersion === 2 ? judged(a, false, 20, 'exited with code 1') : a));
    const d = place([v2], nodes, actual, everyone, 21);
    expect(d.rollouts[0]).toMatchObject({
      target: 2,
      phase: 'failed',
      failure: { reason: 'exited with code 1' },
    });
    expect(d.stops).toEqual([]);
    // The old copy of the failed slot keeps serving beside the unhealthy new one.
    expect(d.allocs.map((a) => [a.slot, a.jobVersion, a.status])).toEqual([
      [0, 1, 'outgoing'],
      [0, 2, 'run'],
      [1, 1, 'run'],
      [2, 1, 'run'],
    ]);
  });

  test('with no earlier stable version there is nothing to revert to: failed', () => {
    const v1 = web(1, 2, update);
    const actual = started(place([v1], nodes, [], everyone, 0)).map((a) => judged(a, false, 1, 'boom'));
    expect(deriveRollout(v1, actual)).toMatchObject({ target: 1, phase: 'failed' });
  });

  test('once stable, a later unhealthy copy does not revert a completed rollout', () => {
    let actual = stableV1(2, update);
    const v2 = web(2, 2, { ...update, maxParallel: 2 });
    const d = place([v2], nodes, actual, everyone, 10);
    actual = apply(actual, d, 10).map((a) => (a.jobVersion === 2 ? judged(a, true, 11) : a));
    const replacement = { ...actual.find((a) => a.jobVersion === 2)!, allocId: 'web.0.9.0000abcd' };
    actual = [...actual, judged(replacement, false, 50, 'crashed')];
    expect(deriveRollout(v2, actual)).toMatchObject({ target: 2, phase: 'complete' });
  });

  test('of two live copies of a slot, the target version survives even when it is older', () => {
    const copy = { generation: 0, score: 0, startedAt: 0, state: 'running' as const };
    const older = { ...copy, allocId: 'web.0.1.00000001', jobVersion: 1 };
    const newer = { ...copy, allocId: 'web.0.0.00000002', jobVersion: 2 };
    expect(reconcile([newer, older], 'best_score', 1).survivor).toBe(older);
    expect(reconcile([newer, older], 'best_score').survivor).toBe(newer);
  });
});
