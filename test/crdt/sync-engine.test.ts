import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { GossipMessage, MeshState } from '../../src/crdt/mesh-state.js';
import { PeerSyncStates } from '../../src/crdt/peer-sync-states.js';
import { decodeSyncFrame, encodeSyncFrame } from '../../src/crdt/sync-codec.js';
import { SyncSession, type SyncStep } from '../../src/crdt/sync-engine.js';
import { alloc, deliver, nodeRecord, replica, spec, syncPair, view } from './replicas.js';

describe('sync sessions', () => {
  test('replicas that agree finish in one round trip', () => {
    const a = replica('a', 1);
    const b = replica('b', 2);
    deliver(a.submitJob('web', spec('img:1'), 'op', 0).publish, [b]);
    deliver(b.putNodeRecord(nodeRecord('b'), 0), [a]);
    expect(syncPair(a, b).frames).toBe(2);
  });

  test('divergent replicas converge, then agree', () => {
    const a = replica('a', 1);
    const b = replica('b', 2);
    deliver(a.submitJob('web', spec('img:1'), 'op', 0).publish, [b]);
    a.submitJob('web', spec('img:2'), 'op', 10);
    a.submitJob('db', spec('pg'), 'op', 10);
    b.putNodeRecord(nodeRecord('b'), 10);
    b.stopJob('web', 'op', 20);
    syncPair(a, b, 30);
    expect(view(a)).toEqual(view(b));
    expect(a.job('web')).toMatchObject({ desired: 'stopped', current: { version: 2 } });
    expect(syncPair(b, a, 40).frames).toBe(2);
  });

  test('a persisted sync state makes the next session cheaper than a fresh one', () => {
    const a = replica('a', 1, { compactAfterChanges: 10_000 });
    const b = replica('b', 2);
    const statesA = new PeerSyncStates();
    const statesB = new PeerSyncStates();
    for (let i = 0; i < 300; i++)
      deliver(a.putAllocStatus(alloc('a', 'x', i % 2 ? 'running' : 'starting', i), i), [b]);
    a.putAllocStatus(alloc('a', 'x', 'failed', 1), 400);
    syncPair(a, b, 500, statesA, statesB);
    a.putAllocStatus(alloc('a', 'x', 'running', 2), 600);
    const resumed = PeerSyncStates.decode(statesA.encode());
    const resumedB = PeerSyncStates.decode(statesB.encode());
    if (!resumed.ok || !resumedB.ok) throw new Error('sync states did not round-trip');
    const withState = syncPair(a, b, 700, resumed.value, resumedB.value).bytes;
    a.putAllocStatus(alloc('a', 'x', 'failed', 3), 800);
    const fresh = syncPair(a, b, 900).bytes;
    expect(view(a)).toEqual(view(b));
    expect(withState).toBeLessThan(fresh);
  });

  test('hostile frames end the session with an error, never a throw', () => {
    const a = replica('a');
    a.submitJob('web', spec('img:1'), 'op', 0);
    for (const bytes of [
      new Uint8Array([9, 9, 9]),
      new Uint8Array(),
      encodeSyncFrame({ kind: 'hello', digest: new Uint8Array(3) }).subarray(0, 2),
    ]) {
      const step = new SyncSession(a, 'x', new PeerSyncStates()).receive(bytes, 0);
      expect(step.ok).toBe(false);
    }
    const session = new SyncSession(a, 'x', new PeerSyncStates());
    const bogus = encodeSyncFrame({
      kind: 'round',
      summary: [],
      snapshots: [{ docId: 'job/web', epoch: 5, bytes: new Uint8Array([1, 2, 3]) }],
      syncs: [{ docId: 'job/web', epoch: 0, bytes: new Uint8Array([7, 7]) }],
      wants: [],
    });
    expect(session.receive(bogus, 0)).toMatchObject({ ok: false });
    expect(a.job('web')!.current.version).toBe(1);
    expect(session.receive(bogus, 0)).toMatchObject({ ok: false, error: /ended/ });
  });

  test('sessions that are cut off midway leave nothing broken', () => {
    const a = replica('a', 1);
    const b = replica('b', 2);
    for (let i = 0; i < 20; i++) a.submitJob(`job-${i}`, spec(`img:${i}`), 'op', i);
    for (let i = 0; i < 20; i++) b.submitJob(`job-${i}`, spec(`other:${i}`), 'op', i);
    const sa = new SyncSession(a, 'b', new PeerSyncStates());
    const sb = new SyncSession(b, 'a', new PeerSyncStates());
    const first = sb.receive(sa.start(), 0);
    if (!first.ok || !first.send) throw new Error('no reply');
    expect(sa.receive(first.send, 0).ok).toBe(true);
    // The stream drops here; a new session starts over and completes.
    syncPair(b, a, 10);
    expect(view(a)).toEqual(view(b));
  });
});

type Op =
  | { kind: 'submit'; who: number; job: number; image: number }
  | { kind: 'stop' | 'purge'; who: number; job: number }
  | { kind: 'alloc'; who: number; alloc: number; state: 'running' | 'failed' }
  | { kind: 'remove'; who: number; alloc: number }
  | { kind: 'sync'; who: number; other: number; cutAfter: number }
  | { kind: 'gossip'; drop: number };

const who = fc.integer({ min: 0, max: 2 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('submit' as const),
    who,
    job: fc.integer({ min: 0, max: 2 }),
    image: fc.nat(4),
  }),
  fc.record({
    kind: fc.constantFrom('stop' as const, 'purge' as const),
    who,
    job: fc.integer({ min: 0, max: 2 }),
  }),
  fc.record({
    kind: fc.constant('alloc' as const),
    who,
    alloc: fc.nat(2),
    state: fc.constantFrom('running' as const, 'failed' as const),
  }),
  fc.record({ kind: fc.constant('remove' as const), who, alloc: fc.nat(2) }),
  fc.record({
    kind: fc.constant('sync' as const),
    who,
    other: who,
    cutAfter: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({ kind: fc.constant('gossip' as const), drop: fc.nat(3) }),
);

function cutSync(
  a: MeshState,
  b: MeshState,
  now: number,
  cutAfter: number,
  states: PeerSyncStates[],
): GossipMessage[] {
  const sessions = [new SyncSession(a, b.self, states[0]!), new SyncSession(b, a.self, states[1]!)];
  const publish: GossipMessage[] = [];
  let frame: Uint8Array | undefined = sessions[0]!.start();
  for (let turn = 1, n = 0; frame && n < cutAfter; turn = 1 - turn, n++) {
    const step = sessions[turn]!.receive(frame, now);
    if (!step.ok) throw new Error(step.error);
    publish.push(...step.publish);
    frame = step.send;
  }
  return publish;
}

test('any interleaving of writes, lossy reordered gossip, cut sessions and epochs converges after anti-entropy', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), fc.integer({ min: 1, max: 1000 }), (ops, shuffleSeed) => {
      const peers = ['p0', 'p1', 'p2'];
      const states = peers.map((p, i) => replica(p, i + 1, { compactAfterChanges: 4 }));
      const peerStates = peers.map(() => peers.map(() => new PeerSyncStates(2)));
      let inFlight: GossipMessage[] = [];
      let now = 1000;
      for (const o of ops) {
        now += 1000;
        const s = 'who' in o ? states[o.who]! : undefined;
        if (o.kind === 'submit')
          inFlight.push(...s!.submitJob(`j${o.job}`, spec(`i${o.image}`), 'op', now).publish);
        if (o.kind === 'stop') inFlight.push(...s!.stopJob(`j${o.job}`, 'op', now).publish);
        if (o.kind === 'purge') inFlight.push(...s!.purgeJob(`j${o.job}`, 'op', now).publish);
        if (o.kind === 'alloc')
          inFlight.push(...s!.putAllocStatus(alloc(s!.self, `x${o.alloc}`, o.state), now));
        if (o.kind === 'remove') inFlight.push(...s!.removeAllocStatus(`x${o.alloc}`, now));
        if (o.kind === 'sync' && o.who !== o.other) {
          const pair = [peerStates[o.who]![o.other]!, peerStates[o.other]![o.who]!];
          inFlight.push(...cutSync(s!, states[o.other]!, now, o.cutAfter, pair));
        }
        if (o.kind === 'gossip') {
          // Deliver in a scrambled order, dropping every message whose index hits `drop`.
          const order = inFlight.map((m, i) => ({ m, k: (i * 7919 + shuffleSeed) % 1009 }));
          order.sort((x, y) => x.k - y.k);
          const next: GossipMessage[] = [];
          order.forEach(({ m }, i) => {
            if (o.drop > 0 && i % (o.drop + 1) === 0) return;
            next.push(...deliver([m], states, now));
          });
          inFlight = next;
        }
      }
      // Anti-entropy until quiet: a ring of full sessions, gossiping what they publish.
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < peers.length; i++) {
          const j = (i + 1) % peers.length;
          const pair = [peerStates[i]![j]!, peerStates[j]![i]!];
          deliver(syncPair(states[i]!, states[j]!, now, pair[0], pair[1]).publish, states, now);
        }
      }
      const views = states.map((s) => JSON.stringify(view(s)));
      expect(views[1]).toBe(views[0]);
      expect(views[2]).toBe(views[0]);
      for (const s of states) expect(syncPair(s, states[(states.indexOf(s) + 1) % 3]!, now).frames).toBe(2);
    }),
    { numRuns: 60 },
  );
});

function pump(sa: SyncSession, sb: SyncSession, lose?: (round: number, frame: Uint8Array) => Uint8Array) {
  let frame: Uint8Array | undefined = sa.start();
  let toB = true;
  let rounds = 0;
  const kinds = { snapshots: 0, syncs: 0 };
  while (frame && rounds < 1_000) {
    rounds++;
    if (lose) frame = lose(rounds, frame);
    const decoded = decodeSyncFrame(frame);
    if (decoded.ok && decoded.value.kind === 'round') {
      kinds.snapshots += decoded.value.snapshots.length;
      kinds.syncs += decoded.value.syncs.length;
    }
    const step: SyncStep = (toB ? sb : sa).receive(frame, 10);
    if (!step.ok) throw new Error(step.error);
    frame = step.send;
    toB = !toB;
    if (step.done && !frame) break;
  }
  return { rounds, ...kinds };
}

function diverged() {
  const a = replica('a', 1);
  const b = replica('b', 2);
  a.submitJob('web', spec('img:1'), 'op', 0);
  for (let i = 0; i < 5; i++) a.putAllocStatus(alloc('a', `x${i}`, 'running', 1), i);
  syncPair(a, b, 1);
  for (let i = 0; i < 5; i++) {
    a.submitJob('web', spec(`img:a${i}`), 'op', 2 + i);
    b.submitJob('web', spec(`img:b${i}`), 'op', 3 + i);
    a.putAllocStatus(alloc('a', `x${i}`, 'failed', 2), 20 + i);
  }
  return { a, b };
}

/**
 * Automerge's sync protocol assumes no message is lost (automerge/automerge#772, #1284): a sender records changes
 * as sent and does not send them again in that sync state. A session that lost one ends unconverged, never in a
 * loop, and the next session (from the stored shared heads only) converges.
 */
test('a sync message lost mid-session: no loop, and the next session converges', () => {
  for (let at = 1; at < 8; at++) {
    const { a, b } = diverged();
    const [pa, pb] = [new PeerSyncStates(), new PeerSyncStates()];
    const lose = (round: number, frame: Uint8Array) => {
      const decoded = decodeSyncFrame(frame);
      return round === at && decoded.ok && decoded.value.kind === 'round'
        ? encodeSyncFrame({ ...decoded.value, syncs: [] })
        : frame;
    };
    expect(pump(new SyncSession(a, 'b', pa), new SyncSession(b, 'a', pb), lose).rounds).toBeLessThan(20);
    expect(pump(new SyncSession(a, 'b', pa), new SyncSession(b, 'a', pb)).rounds).toBeLessThan(20);
    expect(view(a)).toEqual(view(b));
  }
});

test('a session with whole documents merges what differs in one exchange, with no sync messages', () => {
  const { a, b } = diverged();
  const whole = { wholeDocuments: true };
  const [pa, pb] = [new PeerSyncStates(), new PeerSyncStates()];
  const run = pump(new SyncSession(a, 'b', pa, whole), new SyncSession(b, 'a', pb, whole));
  expect(view(a)).toEqual(view(b));
  expect(run.syncs).toBe(0);
  expect(run.snapshots).toBeGreaterThan(0);
  // hello, the summaries, the documents each way, the empty round, bye: no back and forth per document.
  expect(run.rounds).toBeLessThanOrEqual(6);
  // One side alone in that mode converges too: its peer answers with sync messages, which still apply.
  const next = diverged();
  pump(
    new SyncSession(next.a, 'b', new PeerSyncStates(), whole),
    new SyncSession(next.b, 'a', new PeerSyncStates()),
  );
  expect(view(next.a)).toEqual(view(next.b));
});
