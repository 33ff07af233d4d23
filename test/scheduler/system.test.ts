import { describe, expect, test } from 'vitest';
import { deriveJobStatus } from '../../src/scheduler/job-status.js';
import { place } from '../../src/scheduler/placement.js';
import type { Desired, LivenessEntry, SchedAllocation, SchedJob } from '../../src/scheduler/types.js';
import { alive, job, merge, node, started } from './fixtures.js';

const sys = (over: Partial<SchedJob> = {}) => job('agent', { type: 'system', count: 0, ...over });
const running = (d: Desired) =>
  d.allocs
    .filter((a) => a.status === 'run')
    .map((a) => `${a.node}:${a.allocId}`)
    .sort();
const nodesOf = (d: Desired) =>
  d.allocs
    .filter((a) => a.status === 'run')
    .map((a) => a.node)
    .sort();

describe('type: system', () => {
  test('one copy on every eligible node, none on the others, whatever count says', () => {
    const nodes = [node('a'), node('b', { arch: 'arm64' }), node('c'), node('d', { drivers: ['exec'] })];
    const d = place(
      [sys({ count: 7, constraints: [{ attribute: 'arch', operator: '=', value: 'amd64' }] })],
      nodes,
      [],
      alive(['a', 'b', 'c', 'd']),
      0,
    );
    expect(nodesOf(d)).toEqual(['a', 'c']);
    expect(d.unplaced).toEqual([]);
    expect(d.rollouts[0]!.nodes).toEqual(['a', 'c']);
    expect(d.rollouts[0]!.counts.total).toBe(2);
  });

  test('a node that joins gets a copy and nothing else moves; a node that leaves is not replaced', () => {
    const three = [node('b'), node('c'), node('d')];
    const first = place([sys()], three, [], alive(['b', 'c', 'd']), 0);
    const actual = started(first);
    // 'a' sorts first: every slot number shifts, no copy may.
    const four = place([sys()], [node('a'), ...three], actual, alive(['a', 'b', 'c', 'd']), 1);
    expect(four.stops).toEqual([]);
    expect(running(four)).toEqual(expect.arrayContaining(running(first)));
    expect(nodesOf(four)).toEqual(['a', 'b', 'c', 'd']);
    const withA = merge(actual, started(four, 1));
    const lost = new Map<string, LivenessEntry>([
      ...alive(['a', 'b', 'd'], 5),
      ['c', { status: 'lost', lastSeen: 2 }],
    ]);
    const after = place([sys()], [node('a'), ...three], withA, lost, 10);
    expect(after.stops).toEqual([]);
    expect(nodesOf(after)).toEqual(['a', 'b', 'd']);
    // The lost node's copy is listed as unknown, never replaced elsewhere.
    expect(after.allocs.filter((a) => a.status === 'unknown').map((a) => a.node)).toEqual(['c']);
    expect(running(after)).toEqual(running(four).filter((r) => !r.startsWith('c:')));
    // Once its copy is gone (it left cleanly and reported the copy complete), so is its slot.
    const left = withA.map((a): SchedAllocation => (a.node === 'c' ? { ...a, state: 'complete' } : a));
    const gone = place([sys()], [node('a'), ...three], left, lost, 10);
    expect(gone.rollouts[0]!.nodes).toEqual(['a', 'b', 'd']);
    expect(gone.allocs.map((a) => a.node).sort()).toEqual(['a', 'b', 'd']);
  });

  test('a node that stops being eligible stops its copy; a node without room is unplaced with its reason', () => {
    const d = place([sys()], [node('a'), node('b')], [], alive(['a', 'b']), 0);
    const actual = started(d);
    const tighter = sys({ version: 2, constraints: [{ attribute: 'name', operator: '!=', value: 'b' }] });
    const after = place([tighter], [node('a'), node('b')], actual, alive(['a', 'b']), 1);
    expect(after.stops.map((s) => [s.node, s.reason])).toEqual([['b', 'scaled-down']]);
    const big = place(
      [sys({ resources: { cpu: 3000, memory: 100 } })],
      [node('a'), node('b', { cpu: 1000 })],
      [],
      alive(['a', 'b']),
      0,
    );
    expect(nodesOf(big)).toEqual(['a']);
    expect(big.unplaced).toHaveLength(1);
    expect(big.unplaced[0]!.failure).toMatchObject({ nodesEvaluated: 1, exhausted: { cpu: 1 } });
  });

  test('suspect and drained nodes keep their copies and get none placed for them elsewhere', () => {
    const d = place([sys()], [node('a'), node('b')], [], alive(['a', 'b']), 0);
    const actual = started(d);
    const view = new Map<string, LivenessEntry>([...alive(['a']), ['b', { status: 'suspect', lastSeen: 0 }]]);
    const suspect = place([sys()], [node('a'), node('b'), node('c')], actual, view, 1);
    expect(suspect.stops).toEqual([]);
    expect(nodesOf(suspect)).toEqual(['a', 'b']);
    expect(suspect.unplaced).toEqual([]);
    const drained = place([sys()], [node('a'), node('b', { drained: true })], actual, alive(['a', 'b']), 1);
    expect(drained.stops).toEqual([]);
    expect(nodesOf(drained)).toEqual(['a', 'b']);
  });

  test('a new version rolls out maxParallel nodes at a time, each on its own node', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const v1 = place([sys()], nodes, [], alive(['a', 'b', 'c']), 0);
    const healthy = started(v1).map((a) => ({ ...a, verdict: { healthy: true, at: 1 } }));
    const v2job = sys({ version: 2, update: { maxParallel: 1 }, history: [{ ...sys(), version: 1 }] });
    const v2 = place([v2job], nodes, healthy, alive(['a', 'b', 'c']), 2);
    const fresh = v2.allocs.filter((a) => a.jobVersion === 2);
    expect(fresh.map((a) => a.node)).toEqual(['a']);
    expect(v2.allocs.filter((a) => a.status === 'outgoing').map((a) => a.node)).toEqual(['a']);
    // Once the first node's new copy is judged healthy the next node moves, on its own node again.
    const judged = merge(
      healthy,
      started(v2, 3).map((a) => ({ ...a, verdict: { healthy: true, at: 4 } })),
    );
    const next = place([v2job], nodes, judged, alive(['a', 'b', 'c']), 5);
    expect(next.allocs.filter((a) => a.jobVersion === 2).map((a) => a.node)).toEqual(['a', 'b']);
    expect(next.stops.map((s) => [s.node, s.reason])).toEqual([['a', 'updated']]);
  });

  test('job status wants one copy per eligible device and counts copies by device', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const d = place([sys()], nodes, [], alive(['a', 'b', 'c']), 0);
    const actual = started(d);
    const status = (allocations: SchedAllocation[], desired: Desired) =>
      deriveJobStatus('agent', {
        desired: 'running',
        type: 'system',
        version: 1,
        count: 0,
        allocations,
        unplaced: desired.unplaced.map((u) => ({ slot: u.slot, reasons: [] })),
        rollout: desired.rollouts[0],
      });
    expect(status(actual, place([sys()], nodes, actual, alive(['a', 'b', 'c']), 1))).toMatchObject({
      status: 'running',
      copies: { wanted: 3, running: 3 },
    });
    // A fourth device sorts first: the three running copies still count as running, the new one as starting.
    const four = [node('0'), ...nodes];
    const joined = place([sys()], four, actual, alive(['0', 'a', 'b', 'c']), 1);
    expect(status(actual, joined)).toMatchObject({ copies: { wanted: 4, running: 3, starting: 1 } });
  });
});
