/**
 * Rolling updates keep capacity: a slot moving to a new version starts its new copy beside the old one
 * (`outgoing`) when a node has room for both, and stops the old one once the new one is judged healthy;
 * without room (resources, or a host port both would need) it falls back to stop-then-start, and the rollout
 * says so (`stopFirst`).
 */
import { describe, expect, test } from 'vitest';
import { place } from '../../src/scheduler/placement.js';
import { plan } from '../../src/scheduler/plan.js';
import type {
  Desired,
  SchedAllocation,
  SchedJob,
  SchedNode,
  SchedUpdate,
} from '../../src/scheduler/types.js';
import { alive, job, merge, node, started } from './fixtures.js';

function versions(count: number, update: SchedUpdate | undefined, over: Partial<SchedJob> = {}) {
  const base = job('web', { count, update, driver: 'exec', ...over });
  const { name: _n, status: _s, ...v1 } = base;
  return { v1: base, v2: { ...base, version: 2, history: [v1] } };
}

const healthy = (a: SchedAllocation, at: number): SchedAllocation => ({
  ...a,
  verdict: { healthy: true, at },
});

/** Stopped copies complete; new copies start, not yet judged. */
function apply(actual: readonly SchedAllocation[], d: Desired, at: number): SchedAllocation[] {
  const stopped = new Set(d.stops.map((s) => s.allocId));
  const known = new Set(actual.map((a) => a.allocId));
  return merge(
    actual.map((a) => (stopped.has(a.allocId) ? { ...a, state: 'complete' as const } : a)),
    started(d, at).filter((a) => !known.has(a.allocId)),
  );
}

const rows = (d: Desired) => d.allocs.map((a) => [a.slot, a.jobVersion, a.node, a.status]);

function stableV1(nodes: readonly SchedNode[], v1: SchedJob): SchedAllocation[] {
  const ids = nodes.map((n) => n.peerId);
  return started(place([v1], nodes, [], alive(ids), 0)).map((a) => healthy(a, 1));
}

describe('surge', () => {
  test('a 1-copy service: the new copy starts beside the old, which stops only once the new is judged healthy', () => {
    const nodes = [node('a')];
    const { v1, v2 } = versions(1, { maxParallel: 1 });
    let actual = stableV1(nodes, v1);

    const first = place([v2], nodes, actual, alive(['a']), 10);
    expect(first.stops).toEqual([]);
    expect(rows(first)).toEqual([
      [0, 1, 'a', 'outgoing'],
      [0, 2, 'a', 'run'],
    ]);
    expect(first.rollouts[0]!.stopFirst).toBeUndefined();

    actual = apply(actual, first, 10);
    const pending = place([v2], nodes, actual, alive(['a']), 11);
    expect(pending.stops).toEqual([]);
    expect(rows(pending)).toEqual(rows(first));

    actual = actual.map((a) => (a.jobVersion === 2 ? healthy(a, 12) : a));
    const done = place([v2], nodes, actual, alive(['a']), 12);
    expect(done.stops.map((s) => [s.allocId, s.reason])).toEqual([[actual[0]!.allocId, 'updated']]);
    expect(rows(done)).toEqual([[0, 2, 'a', 'run']]);
    expect(done.rollouts[0]).toMatchObject({ phase: 'complete' });
  });

  test('the agent that owns both copies keeps the outgoing one and never starts one it lacks', () => {
    const nodes = [node('a')];
    const { v1, v2 } = versions(1, { maxParallel: 1 });
    const actual = stableV1(nodes, v1);
    const d = place([v2], nodes, actual, alive(['a']), 10);
    const p = plan(d, actual, 'a');
    expect(p.stop).toEqual([]);
    expect(p.keep.map((a) => [a.jobVersion, a.status])).toEqual([[1, 'outgoing']]);
    expect(p.start.map((a) => a.jobVersion)).toEqual([2]);
    // A view in which the outgoing copy has already finished does not bring it back.
    const finished = actual.map((a) => ({ ...a, state: 'complete' as const }));
    expect(plan(d, finished, 'a').start.map((a) => a.jobVersion)).toEqual([2]);
  });

  test('a fixed host port: another node with room takes the new copy beside the old', () => {
    const nodes = [node('a'), node('b')];
    const { v1, v2 } = versions(1, { maxParallel: 1 }, { ports: [{ host: 8080 }] });
    const actual = stableV1(nodes, v1);
    const oldNode = actual[0]!.node;
    const d = place([v2], nodes, actual, alive(['a', 'b']), 10);
    expect(d.stops).toEqual([]);
    const fresh = d.allocs.find((a) => a.jobVersion === 2)!;
    expect(fresh.node).not.toBe(oldNode);
    expect(d.rollouts[0]!.stopFirst).toBeUndefined();
  });

  test('no room for both (a host port on the only node): stop-then-start, said in the rollout until judged', () => {
    const nodes = [node('a')];
    const { v1, v2 } = versions(1, { maxParallel: 1 }, { ports: [{ host: 8080 }] });
    let actual = stableV1(nodes, v1);
    const first = place([v2], nodes, actual, alive(['a']), 10);
    expect(first.stops.map((s) => [s.allocId, s.reason])).toEqual([[actual[0]!.allocId, 'updated']]);
    expect(rows(first)).toEqual([[0, 2, 'a', 'run']]);
    expect(first.rollouts[0]!.stopFirst).toEqual([{ slot: 0, reason: 'ports' }]);

    actual = apply(actual, first, 10);
    expect(place([v2], nodes, actual, alive(['a']), 11).rollouts[0]!.stopFirst).toEqual([
      { slot: 0, reason: 'ports' },
    ]);
    actual = actual.map((a) => (a.jobVersion === 2 ? healthy(a, 12) : a));
    expect(place([v2], nodes, actual, alive(['a']), 12).rollouts[0]!.stopFirst).toBeUndefined();
  });

  test('no room for both (memory): stop-then-start for that slot only; the others still surge', () => {
    // Each node holds two copies: the slot sharing a node has no room for a third copy beside it.
    const nodes = [node('a', { memory: 600 }), node('b', { memory: 900 })];
    const { v1, v2 } = versions(3, undefined);
    const actual = stableV1(nodes, v1);
    const d = place([v2], nodes, actual, alive(['a', 'b']), 10);
    const runs = d.allocs.filter((a) => a.status === 'run');
    expect(runs.map((a) => a.jobVersion)).toEqual([2, 2, 2]);
    const stopFirst = d.rollouts[0]!.stopFirst ?? [];
    expect(stopFirst.length).toBeGreaterThan(0);
    expect(stopFirst.every((s) => s.reason === 'memory')).toBe(true);
    expect(d.stops.length).toBe(stopFirst.length);
    expect(d.allocs.filter((a) => a.status === 'outgoing')).toHaveLength(3 - stopFirst.length);
  });

  test('a failing new version leaves the old copy running; autoRevert stops only the new one', () => {
    const nodes = [node('a')];
    for (const autoRevert of [false, true]) {
      const { v1, v2 } = versions(1, { maxParallel: 1, autoRevert });
      let actual = stableV1(nodes, v1);
      actual = apply(actual, place([v2], nodes, actual, alive(['a']), 10), 10);
      actual = actual.map((a) =>
        a.jobVersion === 2 ? { ...a, verdict: { healthy: false, at: 20, reason: 'check failed' } } : a,
      );
      const d = place([v2], nodes, actual, alive(['a']), 21);
      const old = actual.find((a) => a.jobVersion === 1)!;
      expect(d.allocs.find((a) => a.allocId === old.allocId)?.status).toBe(autoRevert ? 'run' : 'outgoing');
      expect(d.stops.map((s) => s.allocId)).not.toContain(old.allocId);
      expect(d.rollouts[0]!.phase).toBe(autoRevert ? 'reverted' : 'failed');
      if (autoRevert) expect(d.stops.map((s) => s.reason)).toEqual(['updated']);
    }
  });
});
