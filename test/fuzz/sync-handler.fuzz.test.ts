import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import * as A from '../../src/crdt/automerge.js';
import { PeerSyncStates } from '../../src/crdt/peer-sync-states.js';
import { decodeSyncFrame, encodeSyncFrame, type SyncFrame } from '../../src/crdt/sync-codec.js';
import { SyncSession } from '../../src/crdt/sync-engine.js';
import { replica, spec, syncPair, view } from '../crdt/replicas.js';
import { FUZZ_RUNS, FUZZ_TIMEOUT_MS, mutate, mutatedChunk, mutatedFrom, mutation, reseal } from './mutate.js';
import { buildFixture, expectIntact, hostileChangesArb } from './replica-fixture.js';

/**
 * The listener side of anti-entropy fed whatever a hostile peer sends: a real session's frames up to some point,
 * then a mutated one (bit flips, truncation, splices, huge lengths; Automerge sync messages and documents inside
 * the frame mutated and resealed so they reach Automerge's parser). The session answers or fails; the replica
 * never throws and loses nothing it held.
 */
const fixture = buildFixture();

/** Frames an honest dialer with different state sends the victim, in order, recorded from a real session. */
function transcript(): Uint8Array[] {
  const honest = replica('peer-x', 7);
  honest.submitJob('cache', spec('redis:7'), 'op', 5_000);
  honest.submitJob('web', spec('img:99', 3), 'op', 5_000);
  const victim = fixture.victim();
  const toVictim: Uint8Array[] = [];
  const dialer = new SyncSession(honest, victim.self, new PeerSyncStates());
  const listener = new SyncSession(victim, honest.self, new PeerSyncStates());
  let frame: Uint8Array | undefined = dialer.start();
  for (let turn = 1; frame; turn = 1 - turn) {
    if (turn === 1) toVictim.push(frame);
    const step = (turn === 1 ? listener : dialer).receive(frame, 6_000);
    if (!step.ok) throw new Error(step.error);
    frame = step.send;
  }
  return toVictim;
}
const frames = transcript();
const decoded = frames.map((f) => decodeSyncFrame(f)).flatMap((r) => (r.ok ? [r.value] : []));
const rounds = decoded.filter((f): f is SyncFrame & { kind: 'round' } => f.kind === 'round');
const automergeChunks = rounds.flatMap((f) => [...f.snapshots, ...f.syncs].map((d) => d.bytes));

/** A round whose one document or sync message was mutated inside (and, for documents, resealed). */
const mutatedRound = fc
  .tuple(
    fc.nat(),
    fc.nat(),
    fc.boolean(),
    fc.oneof(mutatedChunk(automergeChunks), fc.array(mutation, { minLength: 1, maxLength: 3 })),
  )
  .map(([pickRound, pickItem, asSync, inner]) => {
    const round = rounds[pickRound % rounds.length]!;
    const items = [...round.snapshots, ...round.syncs];
    const item = items[pickItem % Math.max(1, items.length)];
    if (!item) return encodeSyncFrame(round);
    const bytes =
      inner instanceof Uint8Array ? inner : reseal(inner.reduce((b, m) => mutate(b, m), item.bytes));
    const changed = { ...item, bytes };
    return encodeSyncFrame({
      ...round,
      snapshots: asSync ? round.snapshots : [changed],
      syncs: asSync ? [changed] : round.syncs,
    });
  });

const attack = fc.record({
  /** How many honest frames go first. */
  prefix: fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(0, 1) },
    { weight: 1, arbitrary: fc.nat(frames.length) },
  ),
  bad: fc.oneof(mutatedFrom(frames), mutatedRound),
});

describe('sync handler fuzz', () => {
  test(
    `a session fed mutated frames never throws and never costs the replica its state (${FUZZ_RUNS} cases)`,
    () => {
      fc.assert(
        fc.property(attack, ({ prefix, bad }) => {
          const victim = fixture.victim();
          const session = new SyncSession(victim, 'peer-x', new PeerSyncStates());
          for (const frame of [...frames.slice(0, prefix), bad]) {
            if (session.done) break;
            const step = session.receive(frame, 6_000);
            if (!step.ok) break;
          }
          expectIntact(victim, fixture.before);
        }),
        { numRuns: FUZZ_RUNS },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  // About 5 ms of CPU a case (a real change built and applied, the replica reloaded after it changed).
  test(
    `well-formed hostile changes inside sync frames never cost the replica its state (${FUZZ_RUNS / 5} cases)`,
    () => {
      fc.assert(
        fc.property(hostileChangesArb(fixture), fc.boolean(), ({ docId, epoch, changes }, asSnapshot) => {
          const victim = fixture.victim();
          const session = new SyncSession(victim, 'peer-x', new PeerSyncStates());
          session.receive(frames[0]!, 6_000);
          let bytes: Uint8Array;
          if (asSnapshot) {
            const saved = fixture.saved.get(docId);
            const base = saved
              ? A.load<Record<string, unknown>>(saved.bytes)
              : A.init<Record<string, unknown>>();
            bytes = A.save(A.applyChanges(base, changes)[0]);
          } else {
            bytes = A.encodeSyncMessage({ heads: [], need: [], have: [], changes });
          }
          const item = [{ docId, epoch, bytes }];
          session.receive(
            encodeSyncFrame({
              kind: 'round',
              summary: [],
              snapshots: asSnapshot ? item : [],
              syncs: asSnapshot ? [] : item,
              wants: [],
            }),
            6_000,
          );
          expectIntact(victim, fixture.before);
        }),
        { numRuns: FUZZ_RUNS / 5 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test('after an attack the replica still converges with an honest peer', () => {
    const samples = fc.sample(attack, { numRuns: 50, seed: 42 });
    for (const { prefix, bad } of samples) {
      const victim = fixture.victim();
      const session = new SyncSession(victim, 'peer-x', new PeerSyncStates());
      for (const frame of [...frames.slice(0, prefix), bad])
        if (session.receive(frame, 6_000).ok === false) break;
      const honest = replica('peer-y', 8);
      syncPair(honest, victim);
      syncPair(victim, honest);
      expect(view(victim)).toEqual(view(honest));
    }
  });
});
