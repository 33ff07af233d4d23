import fc from 'fast-check';
import { expect } from 'vitest';
import * as A from '../../src/crdt/automerge.js';
import { type DocId, jobDocId, nodeDocId } from '../../src/crdt/doc-id.js';
import { entriesOf, type FlatDoc } from '../../src/crdt/flat-doc.js';
import { type KeyedEvent, prune, readEvents } from '../../src/crdt/job-log.js';
import type { GossipMessage, MeshState } from '../../src/crdt/mesh-state.js';
import { alloc, deliver, nodeRecord, replica, spec } from '../crdt/replicas.js';

/**
 * A small mesh's worth of replicated state for the fuzzers to attack: three writers, two jobs (one compacted to a
 * later epoch), node records and allocations. `victim()` is the target replica in its initial state (loaded from
 * saved bytes, cheaper than replaying the writes), and `gossip` every message the writers published.
 */
export interface Fixture {
  /** The target replica as built: the same object again unless a case changed it, then a fresh copy. */
  readonly victim: () => MeshState;
  /** The victim's state as `victim()` returns it, for `expectIntact`. */
  readonly before: Snapshot;
  readonly gossip: readonly GossipMessage[];
  /** Full documents (A.save) of every document, by id. */
  readonly saved: ReadonlyMap<DocId, { epoch: number; bytes: Uint8Array }>;
}

export function buildFixture(): Fixture {
  const a = replica('peer-a', 1, { compactAfterChanges: 6 });
  const b = replica('peer-b', 2);
  const gossip: GossipMessage[] = [];
  const share = (messages: readonly GossipMessage[], from: MeshState) => {
    gossip.push(...messages);
    gossip.push(
      ...deliver(
        messages,
        [a, b].filter((s) => s !== from),
      ),
    );
  };
  share(a.putNodeRecord(nodeRecord('peer-a'), 1_000), a);
  share(b.putNodeRecord(nodeRecord('peer-b', 2000), 1_000), b);
  for (let v = 1; v <= 5; v++) share(a.submitJob('web', spec(`img:${v}`, v), 'op', 2_000 + v).publish, a);
  share(b.submitJob('db', spec('postgres:16'), 'op', 3_000).publish, b);
  share(b.stopJob('db', 'op', 3_100).publish, b);
  share(a.putAllocStatus(alloc('peer-a', 'web-0', 'running'), 4_000), a);
  share(b.putAllocStatus(alloc('peer-b', 'web-1', 'starting'), 4_000), b);
  const saved = new Map<DocId, { epoch: number; bytes: Uint8Array }>();
  for (const { docId, epoch } of b.summaries()) saved.set(docId, { epoch, bytes: b.save(docId)! });
  const build = () => {
    const state = replica('peer-v', 9);
    for (const [docId, { epoch, bytes }] of saved) {
      const loaded = state.restore(docId, epoch, bytes);
      if (!loaded.ok) throw new Error(loaded.error);
    }
    return state;
  };
  // Most hostile input changes nothing: the same replica serves the next case until one does.
  const fingerprint = (state: MeshState) =>
    state
      .summaries()
      .map((s) => `${s.docId}@${s.epoch}:${[...s.heads].sort().join()}`)
      .join(';');
  let current = build();
  const pristine = fingerprint(current);
  const victim = () => {
    if (fingerprint(current) !== pristine) current = build();
    return current;
  };
  return { victim, before: snapshot(build()), gossip, saved };
}

export interface Snapshot {
  readonly docs: ReadonlyMap<DocId, { epoch: number; heads: string[]; events: KeyedEvent[] }>;
}

function load(state: MeshState, docId: DocId): FlatDoc {
  const bytes = state.save(docId);
  if (!bytes) throw new Error(`${docId} vanished`);
  return A.load<Record<string, unknown>>(bytes);
}

export function snapshot(state: MeshState): Snapshot {
  const docs = new Map<DocId, { epoch: number; heads: string[]; events: KeyedEvent[] }>();
  for (const { docId, epoch, heads } of state.summaries()) {
    docs.set(docId, { epoch, heads: [...heads], events: readEvents(entriesOf(load(state, docId))) });
  }
  return { docs };
}

/**
 * "No state lost": every document is still there and loads from its saved bytes; a document at the same epoch
 * still contains everything it held (its old heads); job events survive whatever the input did, except those a
 * compaction legitimately prunes; and every view of the replica can still be read.
 */
export function expectIntact(state: MeshState, before: Snapshot): void {
  for (const [docId, old] of before.docs) {
    const epoch = state.epochOf(docId);
    expect(epoch, `${docId} vanished`).toBeDefined();
    expect(epoch!).toBeGreaterThanOrEqual(old.epoch);
    // Untouched documents are as they were loaded: only what the input changed needs the full check.
    if (epoch === old.epoch && state.heads(docId)!.sort().join() === [...old.heads].sort().join()) continue;
    const doc = load(state, docId);
    if (epoch === old.epoch) expect(A.hasHeads(doc, old.heads), `${docId} lost history`).toBe(true);
    if (old.events.length > 0) {
      const now = new Set(readEvents(entriesOf(doc)).map((e) => e.key));
      const union = [...readEvents(entriesOf(doc)), ...old.events.filter((e) => !now.has(e.key))];
      const lost = prune(union).filter((e) => !now.has(e.key));
      expect(lost, `${docId} lost job events`).toEqual([]);
    }
  }
  state.jobs();
  state.nodes();
  state.allocations();
  state.missingDeps();
}

/** The ids hostile input aims at: the victim's documents, unknown ones, and near misses. */
export const docIdArb: fc.Arbitrary<DocId> = fc.constantFrom(
  jobDocId('web'),
  jobDocId('db'),
  jobDocId('new-job'),
  nodeDocId('peer-a'),
  nodeDocId('peer-b'),
  nodeDocId('peer-v'),
  nodeDocId('stranger'),
);

/**
 * Automerge's JS API refuses the key `__proto__` anywhere in a change, so a fixture that writes through that API
 * cannot produce one; fast-check generates it now and then, and the generator, not the replica, would throw.
 */
const writable = (value: unknown) => !JSON.stringify(value ?? null).includes('"__proto__"');

/** Values a hostile change writes: anything Automerge can hold, not only the flat strings the schema uses. */
const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.string(),
  fc.jsonValue({ maxDepth: 4 }).filter(writable),
  fc.constantFrom(-1, 1.5, 2 ** 60, Number.NaN, null, true),
  fc.uint8Array({ maxLength: 32 }),
  fc.string().map((s) => new A.ImmutableString(s)),
  fc.integer().map((n) => new A.Counter(n)),
  fc.array(fc.string(), { maxLength: 4 }),
);

const keyArb = fc.oneof(
  fc.constantFrom('epoch', 'record', 'retired', 'a:web-0', 'a:web-1'),
  fc.string({ maxLength: 20 }).filter((k) => k !== '__proto__'),
  fc.string({ maxLength: 8 }).map((s) => `e:${s}`),
);

type Op = { kind: 'put'; key: string; value: unknown } | { kind: 'delete'; key: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('put' as const), key: keyArb, value: valueArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keyArb }) },
);

export interface HostileChanges {
  readonly docId: DocId;
  readonly epoch: number;
  readonly changes: Uint8Array[];
}

/**
 * Well-formed Automerge changes with hostile content: arbitrary puts and deletes (epoch, event keys, records) on
 * top of the victim's copy of a document, on a fresh document, or with their first change withheld (missing
 * dependencies); sent under the document's epoch or another.
 */
export function hostileChangesArb(fixture: Fixture): fc.Arbitrary<HostileChanges> {
  const loaded = new Map<DocId, FlatDoc>();
  const base = (docId: DocId, bytes: Uint8Array): FlatDoc => {
    const doc = loaded.get(docId) ?? A.load<Record<string, unknown>>(bytes);
    loaded.set(docId, doc);
    return doc;
  };
  return fc
    .record({
      docId: docIdArb,
      start: fc.constantFrom('existing', 'fresh', 'withheld'),
      batches: fc.array(fc.array(opArb, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 2 }),
      epochShift: fc.constantFrom(0, 0, 0, 1, -1, 1000),
      actor: fc.constantFrom('aa', 'bb', 'cc'),
    })
    .map(({ docId, start, batches, epochShift, actor }) => {
      const saved = fixture.saved.get(docId);
      let doc =
        start !== 'fresh' && saved
          ? A.clone(base(docId, saved.bytes), { actor: actor.repeat(16) })
          : A.init<Record<string, unknown>>({ actor: actor.repeat(16) });
      const heads = A.getHeads(doc);
      for (const ops of batches) {
        doc = A.change(doc, (d) => {
          for (const op of ops) {
            if (op.kind === 'delete') delete d[op.key];
            else if (op.value !== undefined && !(typeof op.value === 'number' && Number.isNaN(op.value)))
              d[op.key] = op.value as never;
          }
        });
      }
      let changes = A.getChanges(A.view(doc, heads), doc);
      if (start === 'withheld') changes = changes.slice(1);
      if (changes.length === 0) changes = A.getAllChanges(doc).slice(-1);
      const epoch = Math.max(0, (saved?.epoch ?? 0) + epochShift);
      return { docId, epoch, changes };
    });
}
