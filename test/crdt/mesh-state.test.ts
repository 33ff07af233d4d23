import { describe, expect, test } from 'vitest';
import { KEPT_VERSIONS } from '../../src/crdt/job-log.js';
import { allocStatusSchema } from '../../src/crdt/records.js';
import { alloc, deliver, nodeRecord, replica, spec, syncPair, view } from './replicas.js';

describe('jobs', () => {
  test('submit, resubmit, update, stop and start follow job run semantics', () => {
    const a = replica('a');
    expect(a.submitJob('web', spec('img:1'), 'op', 1000)).toMatchObject({ outcome: 'created', version: 1 });
    const again = a.submitJob('web', spec('img:1'), 'op', 2000);
    expect(again).toMatchObject({ outcome: 'unchanged', version: 1 });
    expect(again.publish).toHaveLength(0);
    expect(a.submitJob('web', spec('img:2'), 'op', 3000)).toMatchObject({ outcome: 'updated', version: 2 });
    expect(a.stopJob('web', 'op', 4000).outcome).toBe('changed');
    expect(a.job('web')).toMatchObject({ desired: 'stopped', desiredSince: 4000 });
    expect(a.stopJob('web', 'op', 4500).outcome).toBe('unchanged');
    expect(a.submitJob('web', spec('img:2'), 'op', 5000)).toMatchObject({ outcome: 'started', version: 2 });
    const job = a.job('web')!;
    expect(job.desired).toBe('running');
    expect(job.current.spec).toEqual(spec('img:2'));
    expect(job.history.map((v) => v.version)).toEqual([2, 1]);
  });

  test('purge hides the job and a resubmission continues the version numbers', () => {
    const a = replica('a');
    a.submitJob('web', spec('img:1'), 'op', 1000);
    a.submitJob('web', spec('img:2'), 'op', 2000);
    expect(a.purgeJob('web', 'op', 3000).outcome).toBe('changed');
    expect(a.job('web')).toBeUndefined();
    expect(a.jobs()).toEqual([]);
    expect(a.stopJob('web', 'op', 3500).outcome).toBe('not-found');
    expect(a.submitJob('web', spec('img:1'), 'op', 4000)).toMatchObject({ outcome: 'created', version: 3 });
    expect(a.job('web')!.history.map((v) => v.version)).toEqual([3]);
  });

  test('history stays bounded: compaction keeps the newest versions and bumps the epoch', () => {
    const a = replica('a');
    const b = replica('b');
    for (let v = 1; v <= 100; v++) {
      expect(deliver(a.submitJob('web', spec(`img:${v}`), 'op', v * 1000).publish, [b])).toEqual([]);
    }
    const job = a.job('web')!;
    expect(job.current.version).toBe(100);
    expect(job.history.length).toBeLessThan(2 * KEPT_VERSIONS);
    expect(job.history.length).toBeGreaterThanOrEqual(KEPT_VERSIONS);
    expect(a.epochOf('job/web')).toBeGreaterThan(5);
    expect(view(b)).toEqual(view(a));
    expect(a.save('job/web')!.length).toBeLessThan(6000);
  });

  test('a submission concurrent with a compaction survives through re-adding', () => {
    const a = replica('a', 1, { compactAfterChanges: 4 });
    const b = replica('b', 2);
    deliver(a.submitJob('web', spec('img:1'), 'op', 1000).publish, [b]);
    deliver(a.submitJob('other', spec('x'), 'op', 1000).publish, [b]);
    // b writes without a seeing it; a compacts meanwhile.
    const fromB = b.submitJob('web', spec('from-b'), 'op-b', 50_000).publish;
    for (let i = 0; i < 3; i++) {
      a.stopJob('web', 'op', 2000 + i);
      a.submitJob('web', spec('img:1'), 'op', 3000 + i);
    }
    expect(a.epochOf('job/web')).toBe(1);
    // a's higher epoch reaches b: b adopts it and re-adds its own submission.
    const echoes = syncPair(a, b, 60_000).publish;
    deliver(echoes, [a, b], 60_000);
    expect(deliver(fromB, [a], 60_000)).toEqual([]);
    expect(view(a)).toEqual(view(b));
    expect(a.job('web')!.current).toMatchObject({ version: 2, spec: spec('from-b') });
    expect(a.epochOf('job/web')).toBe(1);
  });
});

describe('partition acceptance', () => {
  test('halves with different jobs and a conflicting update converge to one state by the documented rule', () => {
    const left = [replica('l1', 1), replica('l2', 2), replica('l3', 3)];
    const right = [replica('r1', 4), replica('r2', 5)];
    const all = [...left, ...right];
    deliver(left[0]!.submitJob('web', spec('img:1'), 'op', 1000).publish, all);
    expect(new Set(all.map((s) => JSON.stringify(view(s)))).size).toBe(1);

    // Partition: each side submits its own job and updates `web` differently, right side later in time.
    deliver(left[1]!.submitJob('left-job', spec('l'), 'op', 2000).publish, left);
    deliver(left[2]!.submitJob('web', spec('img:left'), 'op', 3000).publish, left);
    deliver(right[0]!.submitJob('right-job', spec('r'), 'op', 2500).publish, right);
    deliver(right[1]!.submitJob('web', spec('img:right'), 'op', 3500).publish, right);
    expect(left[0]!.job('web')!.current.spec).toEqual(spec('img:left'));
    expect(right[0]!.job('web')!.current.spec).toEqual(spec('img:right'));

    // Heal: anti-entropy between one pair, then gossip and sync spread it.
    syncPair(left[0]!, right[0]!, 10_000);
    for (const s of all) syncPair(s, left[0]!, 10_000);
    for (const s of all) syncPair(s, left[0]!, 10_000);

    const views = all.map((s) => JSON.stringify(view(s)));
    expect(new Set(views).size).toBe(1);
    const any = all[3]!;
    expect(any.jobs().map((j) => j.name)).toEqual(['left-job', 'right-job', 'web']);
    const web = any.job('web')!;
    // Both updates claimed version 2; the later submission is current everywhere, the other stays in history.
    expect(web.current).toMatchObject({ version: 2, spec: spec('img:right'), submittedAt: 3500 });
    expect(web.history.map((v) => [v.version, v.spec])).toEqual([
      [2, spec('img:right')],
      [2, spec('img:left')],
      [1, spec('img:1')],
    ]);
    expect(web.history[0]!.specHash).not.toBe(web.history[1]!.specHash);
  });

  test('concurrent stop and run resolve the same way everywhere', () => {
    const a = replica('a', 1);
    const b = replica('b', 2);
    deliver(a.submitJob('web', spec('img:1'), 'op', 1000).publish, [b]);
    a.stopJob('web', 'op', 2000);
    b.submitJob('web', spec('img:2'), 'op', 1500);
    syncPair(a, b, 3000);
    expect(view(a)).toEqual(view(b));
    // Same Lamport seq: the later wall-clock event (the stop) wins.
    expect(a.job('web')).toMatchObject({ desired: 'stopped', current: { version: 2 } });
  });
});

describe('nodes and allocations', () => {
  test('records and transitions replicate; removed allocations disappear', () => {
    const a = replica('a');
    const b = replica('b');
    deliver(a.putNodeRecord(nodeRecord('a'), 1000), [b]);
    deliver(a.putAllocStatus(alloc('a', 'web-1', 'starting'), 1100), [b]);
    deliver(a.putAllocStatus(alloc('a', 'web-1', 'running'), 1200), [b]);
    expect(a.putAllocStatus(alloc('a', 'web-1', 'running'), 1300)).toEqual([]);
    expect(b.nodes()).toEqual([nodeRecord('a')]);
    expect(b.allocations()).toEqual([alloc('a', 'web-1', 'running')]);
    deliver(a.removeAllocStatus('web-1', 1400), [b]);
    expect(b.allocations()).toEqual([]);
  });

  test("a finished copy's exit code replicates, and a reader with the older schema still parses the status", () => {
    const a = replica('a');
    const b = replica('b');
    const done = { ...alloc('a', 'once-1', 'complete'), exitCode: 0, finishedAt: 1_500 };
    deliver(a.putAllocStatus(done, 1500), [b]);
    expect(b.allocations()).toEqual([done]);
    // An agent from before exitCode/finishedAt: its schema lacks them and strips them, nothing more.
    const older = allocStatusSchema.omit({ exitCode: true, finishedAt: true });
    expect(older.safeParse(done)).toEqual({ success: true, data: alloc('a', 'once-1', 'complete') });
  });

  test('a node only writes its own record and allocations', () => {
    const a = replica('a');
    expect(() => a.putNodeRecord(nodeRecord('b'), 0)).toThrow(/not ours/);
    expect(() => a.putAllocStatus(alloc('b', 'x', 'running'), 0)).toThrow(/runs elsewhere/);
  });

  test('the owner compacts its document; replicas replace their copy', () => {
    const a = replica('a', 1, { compactAfterChanges: 8 });
    const b = replica('b');
    for (let i = 0; i < 50; i++) {
      deliver(a.putAllocStatus(alloc('a', 'web-1', i % 2 ? 'running' : 'starting', i), 1000 + i), [b]);
    }
    expect(a.epochOf('node/a')).toBeGreaterThanOrEqual(5);
    expect(b.epochOf('node/a')).toBe(a.epochOf('node/a'));
    expect(b.allocations()).toEqual(a.allocations());
    expect(b.save('node/a')!.length).toBeLessThan(1500);
  });

  test('stale epochs are ignored and reported', () => {
    const a = replica('a', 1, { compactAfterChanges: 2 });
    const b = replica('b');
    const first = a.putNodeRecord(nodeRecord('a', 1000), 0);
    for (let i = 0; i < 4; i++) deliver(a.putNodeRecord(nodeRecord('a', 2000 + i), i), [b]);
    expect(b.applyGossip(first[0]!, 10)).toEqual({ kind: 'stale-epoch' });
    expect(b.nodes()[0]!.cpu).toBe(2003);
  });

  test('an owner that lost its latest writes overrides what peers echo back, at a higher epoch', () => {
    const before = replica('a', 1);
    const b = replica('b');
    deliver(before.putNodeRecord(nodeRecord('a', 1000), 0), [b]);
    deliver(before.putAllocStatus(alloc('a', 'web-1', 'running'), 1), [b]);
    // Restart without the disk: a new actor writes a new record, concurrently with the old history.
    const after = replica('a', 2);
    after.putNodeRecord(nodeRecord('a', 3000), 10);
    const publish = syncPair(after, b, 20).publish;
    deliver(publish, [b], 20);
    syncPair(after, b, 30);
    expect(after.nodes()).toEqual([nodeRecord('a', 3000)]);
    expect(view(b)).toEqual(view(after));
    expect(b.allocations()).toEqual([]);
  });

  test('retiring a departed node removes it everywhere; a live node comes back', () => {
    const a = replica('a');
    const b = replica('b');
    const c = replica('c');
    deliver(a.putNodeRecord(nodeRecord('a'), 0), [b, c]);
    deliver(b.putNodeRecord(nodeRecord('b'), 0), [a, c]);
    deliver(c.retireNode('a', 'op', 100), [b]);
    expect(b.nodes().map((n) => n.peerId)).toEqual(['b']);
    expect(b.save('node/a')!.length).toBeLessThan(400);
    // a was alive: it sees the tombstone and rewrites its own document above it.
    const publish = syncPair(a, b, 200).publish;
    deliver(publish, [c], 200);
    syncPair(a, b, 300);
    expect(b.nodes().map((n) => n.peerId)).toEqual(['a', 'b']);
    expect(c.nodes().map((n) => n.peerId)).toEqual(['a', 'b']);
  });
});

describe('hostile input', () => {
  test('garbage changes and mismatched epochs are rejected without touching state', () => {
    const a = replica('a');
    a.submitJob('web', spec('img:1'), 'op', 0);
    const before = JSON.stringify(view(a));
    expect(a.applyGossip({ docId: 'job/web', epoch: 0, changes: [new Uint8Array([1, 2, 3])] }, 0).kind).toBe(
      'rejected',
    );
    const other = replica('x');
    const msg = other.submitJob('db', spec('y'), 'op', 0).publish[0]!;
    expect(a.applyGossip({ ...msg, epoch: 7 }, 0).kind).toBe('rejected');
    expect(JSON.stringify(view(a))).toBe(before);
  });

  test('an edited event whose key no longer matches its content is ignored', () => {
    const a = replica('a');
    const b = replica('b');
    deliver(a.submitJob('web', spec('img:1'), 'op', 0).publish, [b]);
    expect(a.applyGossip(b.submitJob('web', spec('img:2'), 'op', 1).publish[0]!, 1).kind).toBe('applied');
    expect(a.job('web')!.current.version).toBe(2);
  });
});
