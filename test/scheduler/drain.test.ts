import { expect, test } from 'vitest';
import { place } from '../../src/scheduler/placement.js';
import type { Desired, SchedAllocation } from '../../src/scheduler/types.js';
import { alive, job, merge, node, runOn, started } from './fixtures.js';

const web = job('web', { count: 4, driver: 'exec', update: { maxParallel: 1, canary: 0 } });
const everyone = alive(['a', 'b']);
const healthy = (a: SchedAllocation): SchedAllocation =>
  a.verdict === undefined ? { ...a, verdict: { healthy: true, at: 1 } } : a;

/** Stopped copies complete, new ones run, not yet judged. */
function apply(actual: readonly SchedAllocation[], d: Desired): SchedAllocation[] {
  const stopped = new Set(d.stops.map((s) => s.allocId));
  const known = new Set(actual.map((a) => a.allocId));
  return merge(
    actual.map((a) => (stopped.has(a.allocId) ? { ...a, state: 'complete' as const } : a)),
    started(d, 5).filter((a) => !known.has(a.allocId)),
  );
}

test('a drained node takes no new copy; its copies move maxParallel at a time, each gated on a healthy verdict', () => {
  const open = [node('a'), node('b')];
  let actual = started(place([web], open, [], everyone, 0)).map(healthy);
  expect(actual.filter((a) => a.node === 'a').length).toBeGreaterThanOrEqual(1);
  const onA = () => actual.filter((a) => a.node === 'a' && a.state === 'running').length;
  const drained = [node('a', { drained: true }), node('b')];

  let moves = 0;
  while (onA() > 0) {
    const d = place([web], drained, actual, everyone, 10);
    expect(d.stops.map((s) => s.node)).toEqual(['a']);
    expect(runOn(d, 'a').length).toBe(onA() - 1);
    expect(
      d.allocs.filter((x) => x.status === 'run' && !actual.some((a) => a.allocId === x.allocId)),
    ).toEqual([expect.objectContaining({ node: 'b' })]);
    actual = apply(actual, d);
    // The moved copy is not yet judged: nothing else moves.
    expect(place([web], drained, actual, everyone, 11).stops).toEqual([]);
    actual = actual.map(healthy);
    moves++;
  }
  expect(moves).toBeGreaterThanOrEqual(1);
  const settled = place([web], drained, actual, everyone, 12);
  expect(settled.stops).toEqual([]);
  expect(runOn(settled, 'b').length).toBe(4);
});

test('draining the only node moves one copy into nowhere (unplaced), and the others wait on it, as maxParallel says', () => {
  const d = started(place([web], [node('a')], [], alive(['a']), 0)).map(healthy);
  const again = place([web], [node('a', { drained: true })], d, alive(['a']), 10);
  expect(again.stops).toHaveLength(1);
  expect(again.unplaced).toHaveLength(1);
  expect(runOn(again, 'a')).toHaveLength(3);
});
