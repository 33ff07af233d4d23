import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { allocId } from '../../src/scheduler/alloc-id.js';
import { place } from '../../src/scheduler/placement.js';
import { plan } from '../../src/scheduler/plan.js';
import type {
  LivenessEntry,
  ReconcileMode,
  SchedAllocation,
  SchedJob,
  SchedNode,
} from '../../src/scheduler/types.js';
import { alive, job, merge, node, runOn, started } from './fixtures.js';

const lost = (lastSeen: number): LivenessEntry => ({ status: 'lost', lastSeen });

function view(entries: Record<string, LivenessEntry>): Map<string, LivenessEntry> {
  return new Map(Object.entries(entries));
}

/**
 * One copy of `web` runs on x; x drops off the mesh at t=0 and its copy is replaced on y at t=60 (lostAfter
 * 50). Returns the world at t=100, when x is heard again.
 */
function reconnect(mode: ReconcileMode, opts: { y?: Partial<SchedNode>; job?: Partial<SchedJob> } = {}) {
  const nodes = [node('x'), node('y', opts.y), node('z', { drivers: ['exec'] })];
  const web = job('web', { disconnect: { lostAfter: 50, replace: true, reconcile: mode } });
  const all = alive(['x', 'y', 'z']);
  const first = place([web], [node('x')], [], alive(['x']), 0);
  const original = started(first, 0);
  expect(original.map((a) => a.node)).toEqual(['x']);

  const apart = view({
    y: { status: 'alive', lastSeen: 60 },
    z: { status: 'alive', lastSeen: 60 },
    x: lost(0),
  });
  const current = { ...web, ...opts.job };
  const replaced = place([current], nodes, original, apart, 60);
  const replacement = started(replaced, 60);
  expect(replacement.map((a) => a.node)).toEqual(['y']);

  const actual = merge(original, replacement);
  const healed = place([current], nodes, actual, all, 100);
  return { original: original[0]!, replacement: replacement[0]!, actual, healed };
}

describe('disconnect and reconnect', () => {
  test('while a node is unreachable its copies are unknown and keep running; after lostAfter they are replaced', () => {
    const nodes = [node('x'), node('y')];
    const web = job('web', {
      count: 2,
      disconnect: { lostAfter: 50, replace: true, reconcile: 'best_score' },
    });
    const actual = started(place([web], nodes, [], alive(['x', 'y']), 0));
    expect(actual.map((a) => a.node).sort()).toEqual(['x', 'y']);
    const apart = view({
      y: { status: 'alive', lastSeen: 49 },
      x: lost(0),
      w: { status: 'alive', lastSeen: 49 },
    });

    const early = place([web], nodes, actual, apart, 49);
    expect(early.allocs.map((a) => [a.node, a.status])).toEqual(
      expect.arrayContaining([
        ['x', 'unknown'],
        ['y', 'run'],
      ]),
    );
    expect(early.allocs).toHaveLength(2);
    expect(early.stops).toEqual([]);

    const late = place([web], nodes, actual, apart, 50);
    const onX = actual.find((a) => a.node === 'x')!;
    expect(late.allocs.find((a) => a.allocId === onX.allocId)?.status).toBe('unknown');
    const fresh = late.allocs.filter((a) => !actual.some((x) => x.allocId === a.allocId));
    expect(fresh).toMatchObject([{ node: 'y', status: 'run', generation: 1 }]);

    // Time alone changed the result at 50, and the result said so: nothing else wakes an agent then.
    expect(place([web], nodes, actual, alive(['x', 'y']), 49).revisitAt).toBeUndefined();
    expect(early.revisitAt).toBe(50);
    expect(late.revisitAt).toBeUndefined();
  });

  test('the revisit time is the earliest moment any result could change with time alone, never later', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 200 }), (lostAfter, at) => {
        const nodes = [node('x'), node('y')];
        const web = job('web', {
          count: 2,
          disconnect: { lostAfter, replace: true, reconcile: 'best_score' },
        });
        const actual = started(place([web], nodes, [], alive(['x', 'y']), 0));
        const apart = view({ y: { status: 'alive', lastSeen: at }, x: lost(0) });
        const d = place([web], nodes, actual, apart, at);
        const key = (x: typeof d) => JSON.stringify({ ...x, revisitAt: undefined });
        // The result holds until the revisit time (or for ever without one), and changes once it comes.
        const until = d.revisitAt ?? at + 1_000;
        expect(key(place([web], nodes, actual, apart, until - 1))).toBe(key(d));
        if (d.revisitAt !== undefined)
          expect(key(place([web], nodes, actual, apart, d.revisitAt))).not.toBe(key(d));
      }),
      { numRuns: 100 },
    );
  });

  test('replace: false leaves the slot to the unreachable copy', () => {
    const nodes = [node('x'), node('y'), node('z')];
    const web = job('web', { disconnect: { lostAfter: 0, replace: false, reconcile: 'best_score' } });
    const actual = started(place([web], [node('x')], [], alive(['x']), 0));
    const d = place(
      [web],
      nodes,
      actual,
      view({ x: lost(0), y: { status: 'alive', lastSeen: 0 }, z: { status: 'alive', lastSeen: 0 } }),
      1e9,
    );
    expect(d.allocs).toMatchObject([{ node: 'x', status: 'unknown' }]);
    expect(d.unplaced).toEqual([]);
  });

  test('a node absent from the view counts as lost and never heard from', () => {
    const actual = started(place([job('web')], [node('x')], [], alive(['x']), 0));
    const d = place([job('web')], [node('x'), node('y'), node('z')], actual, alive(['y', 'z']), 0);
    expect(d.allocs.map((a) => [a.node, a.status]).sort()).toEqual([
      ['x', 'unknown'],
      [expect.stringMatching(/^[yz]$/), 'run'],
    ]);
  });

  test('an agent that hears no one keeps running its own copies and takes over nobody else’s', () => {
    const nodes = [node('x'), node('y'), node('z')];
    const web = job('web', { count: 3, resources: { cpu: 3000, memory: 100 } });
    const actual = started(place([web], nodes, [], alive(['x', 'y', 'z']), 0));
    const alone = view({ x: { status: 'alive', lastSeen: 500 }, y: lost(0), z: lost(0) });
    const d = place([web], nodes, actual, alone, 1e6);
    expect(d.allocs.map((a) => [a.node, a.status]).sort()).toEqual([
      ['x', 'run'],
      ['y', 'unknown'],
      ['z', 'unknown'],
    ]);
    const mine = actual.filter((a) => a.node === 'x');
    expect(plan(d, mine, 'x')).toEqual({ start: [], stop: [], keep: d.allocs.filter((a) => a.node === 'x') });
  });

  test('best_score: on a tie the original survives and is never restarted; the replacement stops', () => {
    const { original, replacement, healed } = reconnect('best_score');
    expect(healed.allocs).toMatchObject([{ allocId: original.allocId, node: 'x', status: 'run' }]);
    expect(healed.stops).toEqual([
      { allocId: replacement.allocId, job: 'web', node: 'y', reason: 'duplicate' },
    ]);
    expect(plan(healed, [original], 'x')).toMatchObject({
      start: [],
      stop: [],
      keep: [{ allocId: original.allocId }],
    });
    expect(plan(healed, [replacement], 'y')).toEqual({ start: [], stop: [replacement], keep: [] });
  });

  // y is smaller, so the same copy fills more of it: bin-packing ranks it strictly higher.
  const smallY = { cpu: 1000, memory: 1024 };

  test.each([
    ['best_score', {}, 'original'],
    ['best_score', smallY, 'replacement'],
    ['keep_original', smallY, 'original'],
    ['keep_replacement', {}, 'replacement'],
    ['longest_running', smallY, 'original'],
  ] as const)('%s with y %o keeps the %s', (mode, y, expected) => {
    const { original, replacement, healed } = reconnect(mode, { y });
    const [keep, drop] = expected === 'original' ? [original, replacement] : [replacement, original];
    expect(healed.allocs.map((a) => a.allocId)).toEqual([keep.allocId]);
    expect(healed.stops.map((s) => [s.allocId, s.reason])).toEqual([[drop.allocId, 'duplicate']]);
  });

  test('a newer job version wins over keep_original; the older copy serves until the newer is healthy', () => {
    const { original, replacement, healed, actual } = reconnect('keep_original', { job: { version: 2 } });
    expect(replacement.jobVersion).toBe(2);
    expect(healed.allocs.map((a) => [a.allocId, a.status])).toEqual([
      [original.allocId, 'outgoing'],
      [replacement.allocId, 'run'],
    ]);
    expect(healed.stops).toEqual([]);
    const judged = actual.map((a) =>
      a.allocId === replacement.allocId ? { ...a, verdict: { healthy: true, at: 100 } } : a,
    );
    const later = place(
      [{ ...job('web'), version: 2 }],
      [node('x'), node('y')],
      judged,
      alive(['x', 'y']),
      100,
    );
    expect(later.allocs.map((a) => a.allocId)).toEqual([replacement.allocId]);
    expect(later.stops.map((s) => [s.allocId, s.reason])).toEqual([[original.allocId, 'updated']]);
  });

  test('a failed original does not survive; nothing is left to stop on its node', () => {
    const { original, replacement, actual } = reconnect('keep_original');
    const failed = actual.map(
      (a): SchedAllocation => (a.allocId === original.allocId ? { ...a, state: 'failed' } : a),
    );
    const healed = place(
      [job('web', { disconnect: { lostAfter: 50, replace: true, reconcile: 'keep_original' } })],
      [node('x'), node('y')],
      failed,
      alive(['x', 'y']),
      100,
    );
    expect(healed.allocs.map((a) => a.allocId)).toEqual([replacement.allocId]);
    expect(healed.stops).toEqual([]);
    expect(
      plan(
        healed,
        failed.filter((a) => a.node === 'x'),
        'x',
      ),
    ).toEqual({ start: [], stop: [], keep: [] });
  });

  test('after a partition in which both sides replaced copies, exactly count copies survive, one per slot', () => {
    const nodes = ['a', 'b', 'c', 'd'].map((id) => node(id));
    const web = job('web', { count: 2, resources: { cpu: 2500, memory: 100 } });
    const before = started(place([web], nodes, [], alive(['a', 'b', 'c', 'd']), 0));
    const sideOf = (id: string) => (id === 'a' || id === 'b' ? 'left' : 'right');
    const left = alive(['a', 'b'], 10);
    const right = alive(['c', 'd'], 10);
    const onLeft = place([web], nodes, before, left, 10);
    const onRight = place([web], nodes, before, right, 10);
    // Each side starts only what its own view places on its own nodes.
    const ran = merge(
      before,
      started(onLeft, 10).filter((a) => sideOf(a.node) === 'left'),
      started(onRight, 10).filter((a) => sideOf(a.node) === 'right'),
    );
    expect(ran.length).toBeGreaterThan(2);
    const healed = place([web], nodes, ran, alive(['a', 'b', 'c', 'd'], 20), 20);
    expect(healed.allocs.map((a) => [a.slot, a.status])).toEqual([
      [0, 'run'],
      [1, 'run'],
    ]);
    expect(healed.stops).toHaveLength(ran.length - 2);
    // Any two agents that hear everyone agree byte for byte.
    const elsewhere = place(
      [web],
      [...nodes].reverse(),
      [...ran].reverse(),
      alive(['d', 'c', 'b', 'a'], 20),
      20,
    );
    expect(JSON.stringify(elsewhere)).toBe(JSON.stringify(healed));
  });

  test("a lost node revives its slots' duplicates only as stand-ins: they never evict copies it did not run", () => {
    // Two partition sides placed slot 0 on x and on b, slot 1 on b; b has room for one copy, and x's copy of
    // slot 0 outranks b's (b pays the job's anti-affinity), so b runs slot 1 and stops its duplicate.
    const web = job('web', { count: 2, resources: { cpu: 1001, memory: 32 } });
    const copy = (slot: number, at: string, startedAt: number): SchedAllocation => ({
      allocId: allocId('web', 1, slot, 0, at),
      job: 'web',
      jobVersion: 1,
      node: at,
      state: 'running',
      health: 'healthy',
      startedAt,
      restarts: 0,
    });
    const duplicate = copy(0, 'b', 0);
    const actual = [duplicate, copy(0, 'x', 1), copy(1, 'b', 2)];
    const run = (b: Partial<SchedNode>, view: Map<string, LivenessEntry>) =>
      place([web], [node('x'), node('b', b)], actual, view, 0);
    const running = (d: ReturnType<typeof place>) =>
      d.allocs.filter((a) => a.status === 'run').map((a) => [a.allocId, a.node]);

    const before = run({ cpu: 2000 }, alive(['x', 'b']));
    expect(running(before)).toEqual([
      [actual[1]!.allocId, 'x'],
      [actual[2]!.allocId, 'b'],
    ]);
    expect(before.stops).toEqual([
      { allocId: duplicate.allocId, job: 'web', node: 'b', reason: 'duplicate' },
    ]);

    // x is lost before b has stopped the duplicate: the duplicate, older than slot 1's copy, stands in for
    // x's and so is the one that yields b's room.
    const after = run({ cpu: 2000 }, view({ x: lost(0), b: { status: 'alive', lastSeen: 0 } }));
    expect(running(after)).toEqual([[actual[2]!.allocId, 'b']]);
    expect(after.stops).toEqual([{ allocId: duplicate.allocId, job: 'web', node: 'b', reason: 'evicted' }]);
    expect(after.allocs.find((a) => a.node === 'x')?.status).toBe('unknown');

    // With room for both, the stand-in keeps running in place of x's copy.
    const roomy = run({ cpu: 4000 }, view({ x: lost(0), b: { status: 'alive', lastSeen: 0 } }));
    expect(running(roomy)).toEqual([
      [duplicate.allocId, 'b'],
      [actual[2]!.allocId, 'b'],
    ]);
    expect(roomy.stops).toEqual([]);
  });
});

describe('ranking', () => {
  const half = (id: string) => node(id, { cpu: 2000, memory: 2048 });

  test('bin-pack fills the fuller node; spread picks the emptier one', () => {
    const nodes = [node('big'), half('small')];
    const pick = (algorithm: 'binpack' | 'spread') =>
      place([job('web', { scheduling: { algorithm } })], nodes, [], alive(['big', 'small']), 0).allocs[0]!
        .node;
    expect(pick('binpack')).toBe('small');
    expect(pick('spread')).toBe('big');
  });

  test('job anti-affinity spreads copies of one job over identical nodes even under bin-packing', () => {
    const d = place([job('web', { count: 2 })], [node('a'), node('b')], [], alive(['a', 'b']), 0);
    expect(d.allocs.map((a) => a.node).sort()).toEqual(['a', 'b']);
  });

  test('a positive affinity attracts, a negative one repels', () => {
    const nodes = [node('n', { labels: { zone: 'north' } }), node('s', { labels: { zone: 'south' } })];
    const pick = (weight: number) =>
      place(
        [job('web', { affinities: [{ attribute: 'label.zone', operator: '=', value: 'north', weight }] })],
        nodes,
        [],
        alive(['n', 's']),
        0,
      ).allocs[0]!.node;
    expect(pick(50)).toBe('n');
    expect(pick(-50)).toBe('s');
  });

  test('a slot that failed on a node is rescheduled under a new generation, elsewhere when it can be', () => {
    const nodes = [node('a'), node('b')];
    const first = started(place([job('web')], nodes, [], alive(['a', 'b']), 0), 0, 'failed');
    // A service slot waits 30 s after its first failure (reschedule.ts).
    const waiting = place([job('web')], nodes, first, alive(['a', 'b']), 5);
    expect(waiting.allocs).toEqual([]);
    expect(waiting.unplaced).toEqual([]);
    expect(waiting.revisitAt).toBe(30_000);
    const d = place([job('web')], nodes, first, alive(['a', 'b']), 30_000);
    expect(d.allocs).toMatchObject([{ slot: 0, generation: 1, status: 'run' }]);
    expect(d.allocs[0]!.node).not.toBe(first[0]!.node);
    expect(d.allocs[0]!.allocId).not.toBe(first[0]!.allocId);
  });
});

describe('feasibility and reasons', () => {
  test('constraints, drivers and resources each explain the nodes they rule out', () => {
    const nodes = [
      node('arm', { arch: 'arm64' }),
      node('noexec', { drivers: ['docker'] }),
      node('tiny', { cpu: 200 }),
      node('lowmem', { memory: 256 }),
      node('gone'),
      node('shy'),
    ];
    const liveness = view({
      ...Object.fromEntries(nodes.map((n) => [n.peerId, { status: 'alive', lastSeen: 0 } as const])),
      gone: lost(0),
      shy: { status: 'suspect', lastSeen: 0 },
    });
    const web = job('web', {
      count: 2,
      driver: 'exec',
      resources: { cpu: 500, memory: 512 },
      constraints: [{ attribute: 'arch', operator: '!=', value: 'arm64' }],
    });
    const d = place([web], nodes, [], liveness, 0);
    expect(d.allocs).toEqual([]);
    const failure = {
      nodesEvaluated: 6,
      nodesIneligible: 2,
      filtered: { 'arch != arm64': 1, 'missing driver exec': 1 },
      exhausted: { cpu: 1, memory: 1, ports: 0 },
    };
    expect(d.unplaced).toEqual([
      { job: 'web', jobVersion: 1, slot: 0, failure },
      { job: 'web', jobVersion: 1, slot: 1, failure },
    ]);
  });

  test('a host port is node-exclusive: the second copy needs another node', () => {
    const web = job('web', { count: 3, ports: [{ host: 8080 }] });
    const d = place([web], [node('a'), node('b')], [], alive(['a', 'b']), 0);
    expect(d.allocs.map((a) => a.node).sort()).toEqual(['a', 'b']);
    expect(d.unplaced).toMatchObject([{ slot: 2, failure: { exhausted: { cpu: 0, memory: 0, ports: 2 } } }]);
  });

  test('the reserve is not for jobs', () => {
    const d = place(
      [job('web', { resources: { cpu: 1000, memory: 100 } })],
      [node('a', { cpu: 1000, reserved: { cpu: 1, memory: 0 } })],
      [],
      alive(['a']),
      0,
    );
    expect(d.unplaced).toMatchObject([{ failure: { exhausted: { cpu: 1 } } }]);
  });
});

describe('job lifecycle', () => {
  const nodes = [node('a'), node('b'), node('c')];
  const everyone = alive(['a', 'b', 'c']);

  test('stopping a job stops every live copy; scaling down stops the highest slots', () => {
    const web = job('web', { count: 3 });
    const actual = started(place([web], nodes, [], everyone, 0));
    const stopped = place([{ ...web, status: 'stopped' }], nodes, actual, everyone, 1);
    expect(stopped.allocs).toEqual([]);
    expect(stopped.stops.map((s) => s.reason)).toEqual(['job-stopped', 'job-stopped', 'job-stopped']);
    const smaller = place([{ ...web, count: 1 }], nodes, actual, everyone, 1);
    expect(smaller.allocs.map((a) => a.slot)).toEqual([0]);
    expect(smaller.stops.map((s) => [s.allocId.split('.')[1], s.reason])).toEqual([
      ['1', 'scaled-down'],
      ['2', 'scaled-down'],
    ]);
    const gone = place([], nodes, actual, everyone, 1);
    expect(gone.stops.map((s) => s.reason)).toEqual(['orphaned', 'orphaned', 'orphaned']);
  });

  test('a new version rolls out maxParallel slots at a time, each beside its old copy, once the last has settled', () => {
    const update = { maxParallel: 1, minHealthyTime: 10 };
    const v1 = job('web', { count: 3, update });
    const v2 = { ...v1, version: 2 };
    let actual = started(place([v1], nodes, [], everyone, 0));
    const where = new Map(actual.map((a) => [a.allocId.split('.')[1], a.node]));

    // Surge: the new copy of slot 0 starts on the old one's node, and the old one keeps running.
    const step1 = place([v2], nodes, actual, everyone, 100);
    expect(step1.stops).toEqual([]);
    const fresh1 = step1.allocs.filter((a) => a.jobVersion === 2);
    expect(fresh1).toMatchObject([{ slot: 0, node: where.get('0'), status: 'run' }]);
    expect(step1.allocs.filter((a) => a.jobVersion === 1).map((a) => [a.slot, a.status])).toEqual([
      [0, 'outgoing'],
      [1, 'run'],
      [2, 'run'],
    ]);
    // The new copy not yet started: the plan is unchanged.
    expect(place([v2], nodes, actual, everyone, 100)).toEqual(step1);
    actual = merge(
      actual,
      started(step1, 100).filter((a) => a.jobVersion === 2),
    );
    // Not yet settled: running, even healthy, but not yet judged healthy by its owner (minHealthyTime).
    const unsettled = place([v2], nodes, actual, everyone, 105);
    expect(unsettled.stops).toEqual([]);
    const ids = (d: typeof step1) => d.allocs.map((a) => [a.allocId, a.status]);
    expect(ids(unsettled)).toEqual(ids(step1));
    actual = actual.map((a) => (a.jobVersion === 2 ? { ...a, verdict: { healthy: true, at: 110 } } : a));
    const step2 = place([v2], nodes, actual, everyone, 110);
    expect(step2.stops).toMatchObject([{ allocId: `${actual[0]!.allocId}`, reason: 'updated' }]);
    expect(step2.allocs.filter((a) => a.jobVersion === 2).map((a) => a.slot)).toEqual([0, 1]);
    expect(runOn(step2, where.get('1')!)).toContain(
      step2.allocs.find((a) => a.slot === 1 && a.jobVersion === 2)!.allocId,
    );
  });

  test('without an update block every outdated slot moves at once', () => {
    const v1 = job('web', { count: 3 });
    const actual = started(place([v1], nodes, [], everyone, 0));
    const d = place([{ ...v1, version: 2 }], nodes, actual, everyone, 1);
    expect(d.allocs.filter((a) => a.status === 'run').map((a) => a.jobVersion)).toEqual([2, 2, 2]);
    expect(d.allocs.filter((a) => a.status === 'outgoing').map((a) => a.jobVersion)).toEqual([1, 1, 1]);
    expect(d.stops).toEqual([]);
  });
});
