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
    // Only the mutated item: valid neighbours would change the replica and make every case rebuild it.
    return encodeSyncFrame({ ...round, snapshots: asSync ? [] : [changed], syncs: asSync ? [changed] : [] });
  });

/** A mutated frame first or right after the honest hello: cheap enough for the 10,000 runs. */
const early = fc.record({ prefix: fc.constantFrom(0, 1), bad: fc.oneof(mutatedFrom(frames), mutatedRound) });
/** Anywhere in the session: every honest frame before it changes the replica, so each case rebuilds it. */
const anywhere = fc.record({
  prefix: fc.nat(frames.length),
  bad: fc.oneof(mutatedFrom(frames), mutatedRound),
});

function runAttack({ prefix, bad }: { prefix: number; bad: Uint8Array }) {
  const victim = fixture.victim();
  const session = new SyncSession(victim, 'peer-x', new PeerSyncStates());
  for (const frame of [...frames.slice(0, prefix), bad]) {
    if (session.done) break;
    if (!session.receive(frame, 6_000).ok) break;
  }
  return victim;
}

describe('sync handler fuzz', () => {
  test(
    `a session fed a mutated frame never throws and never costs the replica its state (${FUZZ_RUNS} cases)`,
    () => {
      fc.assert(
        fc.property(early, (attack) => expectIntact(runAttack(attack), fixture.before)),
        { numRuns: FUZZ_RUNS },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    `the same deeper into a session (${FUZZ_RUNS / 10} cases)`,
    () => {
      fc.assert(
        fc.property(anywhere, (attack) => expectIntact(runAttack(attack), fixture.before)),
        { numRuns: FUZZ_RUNS / 10 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  // About 5 ms of CPU a case, so a tenth of the runs (a real change built and applied, the replica reloaded after it changed).
  test(
    `well-formed hostile changes inside sync frames never cost the replica its state (${FUZZ_RUNS / 10} cases)`,
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
        { numRuns: FUZZ_RUNS / 10 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test('after an attack the replica still converges with an honest peer', () => {
    for (const attack of fc.sample(anywhere, { numRuns: 50, seed: 42 })) {
      const victim = runAttack(attack);
      const honest = replica('peer-y', 8);
      syncPair(honest, victim);
      syncPair(victim, honest);
      expect(view(victim)).toEqual(view(honest));
    }
  });
});
