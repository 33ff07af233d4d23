import * as A from './automerge.js';
import { canonicalJson, type JsonValue } from './canonical-json.js';
import { checkChange, checkSyncMessage } from './change-bytes.js';
import { sha256Hex } from './digest.js';
import { type DocId, isJobName, jobDocId, nodeDocId, parseDocId } from './doc-id.js';
import { entriesOf, epochOf, type FlatDoc, freshDoc, headsKey, writeEntries } from './flat-doc.js';
import {
  deriveJob,
  eventText,
  type JobEvent,
  type JobView,
  KEPT_VERSIONS,
  type KeyedEvent,
  keyed,
  nextSeq,
  nextVersion,
  prune,
  readEvents,
} from './job-log.js';
import {
  type AllocStatus,
  allocStatusSchema,
  type NodeRecord,
  nodeRecordSchema,
  parseStored,
} from './records.js';
import { err, ok, type Result } from './result.js';

/**
 * The replicated state an agent holds: one Automerge document per job and one per node (see README.md for why).
 * Deterministic and free of I/O: time and the actor id come in as arguments, every local operation returns the
 * gossip to publish, and the shell persists what `drainDirty` names.
 *
 * Epochs: a document is rewritten fresh (one change, no history) at epoch + 1 to keep its history bounded.
 * Replicas never merge across epochs: a higher epoch replaces their copy, a lower one is stale.
 */
export interface GossipMessage {
  readonly docId: DocId;
  readonly epoch: number;
  /** Automerge changes (A.getChanges format). A fresh epoch travels as its single initial change. */
  readonly changes: readonly Uint8Array[];
}

export type ApplyOutcome =
  | { readonly kind: 'applied'; readonly publish: readonly GossipMessage[] }
  /** Everything in the message was already here. */
  | { readonly kind: 'duplicate' }
  /** The sender holds an older epoch: sync with it so it catches up (and re-adds what only it has). */
  | { readonly kind: 'stale-epoch' }
  /** Changes whose dependencies never arrived here: sync with the sender. */
  | { readonly kind: 'missing-deps' }
  | { readonly kind: 'rejected'; readonly reason: string };

export type SubmitOutcome = 'created' | 'updated' | 'started' | 'unchanged';
export type StatusOutcome = 'changed' | 'unchanged' | 'not-found';

export interface MeshStateOptions {
  /** This agent's peer id: the only writer of `node/<self>`. */
  readonly self: string;
  /** Automerge actor id for this process lifetime (`actorFor`); never reused across restarts. */
  readonly actor: string;
  /** A document a local write leaves with more changes than this is rewritten fresh at the next epoch. */
  readonly compactAfterChanges?: number;
}

export interface DocSummary {
  readonly docId: DocId;
  readonly epoch: number;
  readonly heads: readonly string[];
}

/**
 * A fresh actor per process lifetime: after a crash that lost unflushed changes, reusing the old actor would
 * reissue sequence numbers peers already hold with different content.
 */
export function actorFor(peerId: string, sessionSeed: Uint8Array): string {
  return sha256Hex(Buffer.concat([Buffer.from(`${peerId}\0`), sessionSeed]), 32);
}

interface Slot {
  readonly doc: FlatDoc;
  readonly epoch: number;
  entries?: Map<string, string>;
  job?: { view: JobView | undefined };
}

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const RECORD = 'record';
const RETIRED = 'retired';
const ALLOC = 'a:';

export class MeshState {
  readonly self: string;
  private readonly actor: string;
  private readonly compactAfterChanges: number;
  private readonly slots = new Map<DocId, Slot>();
  private readonly dirty = new Set<DocId>();
  private readonly ownId: DocId;
  /** Once this session has written its own document, its local view is the truth and is never merged over. */
  private ownWritten = false;

  constructor(options: MeshStateOptions) {
    this.self = options.self;
    this.actor = options.actor;
    this.compactAfterChanges = options.compactAfterChanges ?? 64;
    this.ownId = nodeDocId(options.self);
  }

  // ---- local operations: each returns the gossip to publish ----

  submitJob(
    name: string,
    spec: JsonValue,
    by: string,
    now: number,
  ): { outcome: SubmitOutcome; version: number; publish: GossipMessage[] } {
    if (!isJobName(name)) throw new RangeError(`invalid job name: ${name}`);
    const id = jobDocId(name);
    const events = this.jobEvents(id);
    const view = deriveJob(name, events);
    const specText = canonicalJson(spec);
    const base = { seq: nextSeq(events), at: now, by };
    if (view && canonicalJson(view.current.spec) === specText) {
      if (view.desired === 'running')
        return { outcome: 'unchanged', version: view.current.version, publish: [] };
      const publish = this.addJobEvents(id, [keyed({ kind: 'start', ...base })], now);
      return { outcome: 'started', version: view.current.version, publish };
    }
    const version = nextVersion(events);
    const publish = this.addJobEvents(id, [keyed({ kind: 'submit', ...base, version, spec: specText })], now);
    return { outcome: view ? 'updated' : 'created', version, publish };
  }

  stopJob(name: string, by: string, now: number): { outcome: StatusOutcome; publish: GossipMessage[] } {
    return this.jobStatus(
      name,
      (view) => (view.desired === 'stopped' ? undefined : { kind: 'stop' }),
      by,
      now,
    );
  }

  /** Removes the job from every view; its document keeps only a tombstone. Resubmitting the name starts anew. */
  purgeJob(name: string, by: string, now: number): { outcome: StatusOutcome; publish: GossipMessage[] } {
    return this.jobStatus(name, () => ({ kind: 'purge' }), by, now);
  }

  putNodeRecord(record: NodeRecord, now: number): GossipMessage[] {
    const checked = nodeRecordSchema.parse(record);
    if (checked.peerId !== this.self) throw new RangeError(`record of ${checked.peerId} is not ours`);
    return this.writeOwn([[RECORD, canonicalJson(checked)]], [], now);
  }

  /** Call on state transitions only: the history of this document is what the mesh stores. */
  putAllocStatus(status: AllocStatus, now: number): GossipMessage[] {
    const checked = allocStatusSchema.parse(status);
    if (checked.node !== this.self) throw new RangeError(`allocation ${checked.allocId} runs elsewhere`);
    return this.writeOwn([[ALLOC + checked.allocId, canonicalJson(checked)]], [], now);
  }

  removeAllocStatus(allocId: string, now: number): GossipMessage[] {
    return this.writeOwn([], [ALLOC + allocId], now);
  }

  /**
   * Replaces a departed node's document with a tombstone at the next epoch, so its record and allocations leave
   * every view and its history leaves every disk. If the node is alive after all, it rewrites its own document
   * at a higher epoch and reappears.
   */
  retireNode(peerId: string, by: string, now: number): GossipMessage[] {
    if (peerId === this.self) throw new RangeError('a node does not retire itself');
    const id = nodeDocId(peerId);
    const slot = this.slots.get(id);
    if (!slot || this.entries(slot).has(RETIRED)) return [];
    return [this.replaceFresh(id, slot.epoch + 1, [[RETIRED, canonicalJson({ at: now, by })]], now)];
  }

  // ---- remote input ----

  applyGossip(message: GossipMessage, now: number): ApplyOutcome {
    const { docId, epoch, changes } = message;
    if (!parseDocId(docId)) return { kind: 'rejected', reason: `invalid document id ${docId}` };
    const slot = this.slots.get(docId);
    if (slot && epoch < slot.epoch) return { kind: 'stale-epoch' };
    const hashes: string[] = [];
    for (const change of changes) {
      const checked = checkChange(change);
      if (!checked.ok) return { kind: 'rejected', reason: checked.error };
      hashes.push(checked.value.hash);
    }
    let next: FlatDoc;
    try {
      if (slot && epoch === slot.epoch) {
        if (A.hasHeads(slot.doc, hashes)) return { kind: 'duplicate' };
        // Changes whose dependencies are missing wait in Automerge's queue (and in saved bytes) until sync brings
        // the rest: checkChange above is what keeps a queued change from making the document unloadable.
        [next] = A.applyChanges(A.clone(slot.doc), [...changes]);
      } else {
        [next] = A.applyChanges(A.init<Record<string, unknown>>({ actor: this.actor }), [...changes]);
        // A new epoch is adopted whole or not at all; sync brings the missing part.
        if (A.getMissingDeps(next, []).length > 0) return { kind: 'missing-deps' };
      }
    } catch (e) {
      return { kind: 'rejected', reason: `unusable changes: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (epochOf(next) !== epoch) return { kind: 'rejected', reason: `changes do not match epoch ${epoch}` };
    const publish = this.integrate(docId, next, now);
    return A.getMissingDeps(next, []).length > 0 ? { kind: 'missing-deps' } : { kind: 'applied', publish };
  }

  // ---- read-only views (plain data) ----

  jobs(): JobView[] {
    const out: JobView[] = [];
    for (const id of [...this.slots.keys()].sort()) {
      const parsed = parseDocId(id);
      if (parsed?.kind !== 'job') continue;
      const view = this.jobView(id, parsed.name);
      if (view) out.push(view);
    }
    return out;
  }

  job(name: string): JobView | undefined {
    return isJobName(name) ? this.jobView(jobDocId(name), name) : undefined;
  }

  nodes(): NodeRecord[] {
    const out: NodeRecord[] = [];
    for (const [peerId, entries] of this.liveNodes()) {
      const record = parseStored(nodeRecordSchema, entries.get(RECORD) ?? '');
      if (record?.peerId === peerId) out.push(record);
    }
    return out.sort((a, b) => compareText(a.peerId, b.peerId));
  }

  allocations(): AllocStatus[] {
    const out: AllocStatus[] = [];
    for (const [peerId, entries] of this.liveNodes()) {
      for (const [key, text] of entries) {
        if (!key.startsWith(ALLOC)) continue;
        const status = parseStored(allocStatusSchema, text);
        if (status && status.node === peerId && ALLOC + status.allocId === key) out.push(status);
      }
    }
    return out.sort((a, b) => compareText(a.allocId, b.allocId) || compareText(a.node, b.node));
  }

  // ---- for the sync engine and the storage shell ----

  summaries(): DocSummary[] {
    return [...this.slots.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([docId, slot]) => ({ docId, epoch: slot.epoch, heads: A.getHeads(slot.doc) }));
  }

  epochOf(docId: DocId): number | undefined {
    return this.slots.get(docId)?.epoch;
  }

  /** Documents holding changes whose dependencies have not arrived: the shell should sync. */
  missingDeps(): DocId[] {
    return [...this.slots.entries()]
      .filter(([, slot]) => A.getMissingDeps(slot.doc, []).length > 0)
      .map(([docId]) => docId);
  }

  /** Full document bytes (A.save): what storage and sync send for a document the other side lacks. */
  save(docId: DocId): Uint8Array | undefined {
    const slot = this.slots.get(docId);
    return slot && A.save(slot.doc);
  }

  /** The changes since `heads` as one chunk (A.saveSince), for the append log. */
  saveSince(docId: DocId, heads: readonly string[]): Uint8Array | undefined {
    const slot = this.slots.get(docId);
    return slot && A.saveSince(slot.doc, [...heads]);
  }

  heads(docId: DocId): string[] | undefined {
    const slot = this.slots.get(docId);
    return slot && A.getHeads(slot.doc);
  }

  /** Documents changed (locally or by peers) since the last call. */
  drainDirty(): DocId[] {
    const out = [...this.dirty];
    this.dirty.clear();
    return out;
  }

  /**
   * Loads stored bytes (a save or a saveSince chunk) without any of the replication rules: what was stored was
   * already their result. A higher epoch replaces, an equal one merges, a lower one is ignored.
   */
  restore(docId: DocId, epoch: number, bytes: Uint8Array): Result<'loaded' | 'ignored'> {
    if (!parseDocId(docId)) return err(`invalid document id ${docId}`);
    const slot = this.slots.get(docId);
    if (slot && epoch < slot.epoch) return ok('ignored');
    try {
      const doc =
        slot && epoch === slot.epoch
          ? A.loadIncremental(A.clone(slot.doc), bytes)
          : A.load<Record<string, unknown>>(bytes, { actor: this.actor });
      if (epochOf(doc) !== epoch) return err(`${docId}: stored epoch ${epoch} does not match its content`);
      this.slots.set(docId, { doc, epoch });
      return ok('loaded');
    } catch (e) {
      return err(`${docId}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** A whole document from a peer (sync of a document this side lacks or holds at a lower epoch). */
  receiveSnapshot(docId: DocId, epoch: number, bytes: Uint8Array, now: number): ApplyOutcome {
    if (!parseDocId(docId)) return { kind: 'rejected', reason: `invalid document id ${docId}` };
    const slot = this.slots.get(docId);
    if (slot && epoch < slot.epoch) return { kind: 'stale-epoch' };
    let next: FlatDoc;
    try {
      const loaded = A.load<Record<string, unknown>>(bytes, { actor: this.actor });
      next = slot && epoch === slot.epoch ? A.merge(A.clone(slot.doc), loaded) : loaded;
    } catch (e) {
      return { kind: 'rejected', reason: `unusable document: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (epochOf(next) !== epoch)
      return { kind: 'rejected', reason: `document does not match epoch ${epoch}` };
    if (slot && headsKey(next) === headsKey(slot.doc)) return { kind: 'duplicate' };
    return { kind: 'applied', publish: this.integrate(docId, next, now) };
  }

  generateSyncMessage(docId: DocId, state: A.SyncState): [A.SyncState, Uint8Array | null] {
    const slot = this.slots.get(docId);
    if (!slot) return [state, null];
    try {
      return A.generateSyncMessage(slot.doc, state);
    } catch {
      // A state Automerge cannot use (whatever a peer managed to put in it) costs a fresh start, not the session.
      return A.generateSyncMessage(slot.doc, A.initSyncState());
    }
  }

  receiveSyncMessage(
    docId: DocId,
    state: A.SyncState,
    message: Uint8Array,
    now: number,
  ): Result<{ state: A.SyncState; publish: GossipMessage[] }> {
    const slot = this.slots.get(docId);
    if (!slot) return err(`no document ${docId}`);
    const checked = checkSyncMessage(message);
    if (!checked.ok) return err(`${docId}: ${checked.error}`);
    try {
      const [next, nextState] = A.receiveSyncMessage(A.clone(slot.doc), state, message);
      if (epochOf(next) !== slot.epoch) return err(`${docId}: sync message changes the epoch`);
      const changed = headsKey(next) !== headsKey(slot.doc);
      return ok({ state: nextState, publish: changed ? this.integrate(docId, next, now) : [] });
    } catch (e) {
      return err(`${docId}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  // ---- internals ----

  private entries(slot: Slot): Map<string, string> {
    slot.entries ??= entriesOf(slot.doc);
    return slot.entries;
  }

  private set(docId: DocId, doc: FlatDoc): void {
    this.slots.set(docId, { doc, epoch: epochOf(doc) });
    this.dirty.add(docId);
  }

  private jobEvents(id: DocId): KeyedEvent[] {
    const slot = this.slots.get(id);
    return slot ? readEvents(this.entries(slot)) : [];
  }

  private jobView(id: DocId, name: string): JobView | undefined {
    const slot = this.slots.get(id);
    if (!slot) return undefined;
    slot.job ??= { view: deriveJob(name, readEvents(this.entries(slot))) };
    return slot.job.view;
  }

  private *liveNodes(): Generator<[string, Map<string, string>]> {
    for (const [id, slot] of this.slots) {
      const parsed = parseDocId(id);
      if (parsed?.kind !== 'node') continue;
      const entries = this.entries(slot);
      if (!entries.has(RETIRED)) yield [parsed.peerId, entries];
    }
  }

  private jobStatus(
    name: string,
    decide: (view: JobView) => { kind: 'stop' | 'purge' } | undefined,
    by: string,
    now: number,
  ): { outcome: StatusOutcome; publish: GossipMessage[] } {
    const view = this.job(name);
    if (!view) return { outcome: 'not-found', publish: [] };
    const decided = decide(view);
    if (!decided) return { outcome: 'unchanged', publish: [] };
    const id = jobDocId(name);
    const events = this.jobEvents(id);
    const base = { seq: nextSeq(events), at: now, by };
    const event: JobEvent =
      decided.kind === 'stop'
        ? { kind: 'stop', ...base }
        : { kind: 'purge', ...base, version: nextVersion(events) - 1 };
    return { outcome: 'changed', publish: this.addJobEvents(id, [keyed(event)], now) };
  }

  private addJobEvents(id: DocId, events: readonly KeyedEvent[], now: number): GossipMessage[] {
    const puts = events.map((e) => [e.key, eventText(e.event)] as const);
    const slot = this.slots.get(id);
    if (!slot) return [this.replaceFresh(id, 0, puts, now)];
    const next = writeEntries(slot.doc, puts, [], now);
    if (next === slot.doc) return [];
    this.set(id, next);
    const all = readEvents(entriesOf(next));
    const kept = prune(all);
    if (all.length - kept.length >= KEPT_VERSIONS || A.stats(next).numChanges > this.compactAfterChanges) {
      return [
        this.replaceFresh(
          id,
          slot.epoch + 1,
          kept.map((e) => [e.key, eventText(e.event)] as const),
          now,
        ),
      ];
    }
    return [{ docId: id, epoch: slot.epoch, changes: [A.getLastLocalChange(next)!] }];
  }

  private writeOwn(puts: [string, string][], deletes: string[], now: number): GossipMessage[] {
    this.ownWritten = true;
    const id = this.ownId;
    const slot = this.slots.get(id);
    if (!slot) return [this.replaceFresh(id, 0, puts, now)];
    const current = this.entries(slot);
    if (current.has(RETIRED)) {
      // Someone retired us while we were away: come back at a higher epoch.
      const entries = new Map([...current].filter(([key]) => key !== RETIRED));
      for (const [key, value] of puts) entries.set(key, value);
      for (const key of deletes) entries.delete(key);
      return [this.replaceFresh(id, slot.epoch + 1, entries, now)];
    }
    const next = writeEntries(slot.doc, puts, deletes, now);
    if (next === slot.doc) return [];
    if (A.stats(next).numChanges > this.compactAfterChanges) {
      return [this.replaceFresh(id, slot.epoch + 1, entriesOf(next), now)];
    }
    this.set(id, next);
    return [{ docId: id, epoch: slot.epoch, changes: [A.getLastLocalChange(next)!] }];
  }

  private replaceFresh(
    id: DocId,
    epoch: number,
    entries: Iterable<readonly [string, string]>,
    now: number,
  ): GossipMessage {
    const doc = freshDoc(this.actor, epoch, entries, now);
    this.set(id, doc);
    return { docId: id, epoch, changes: A.getAllChanges(doc) };
  }

  /**
   * Takes `next` (the local copy with incoming data applied) as the new copy, under two rules:
   * - the owner never lets others' writes reach its own document once it has written it this session (after a
   *   crash that lost its latest changes, or a peer writing where it should not): it answers with its own view
   *   at a higher epoch instead;
   * - a replica adopting a compacted job document re-adds the events only it held that survive pruning, so a
   *   submission made concurrently with a compaction is not lost; within an epoch events are only ever added,
   *   so one that a peer's change deleted or overwrote (hostile or broken: found by the gossip fuzzer) is
   *   written back the same way.
   */
  private integrate(id: DocId, next: FlatDoc, now: number): GossipMessage[] {
    const slot = this.slots.get(id);
    if (slot && id === this.ownId && this.ownWritten) {
      const epoch = Math.max(epochOf(next), slot.epoch) + 1;
      return [this.replaceFresh(id, epoch, this.entries(slot), now)];
    }
    const before = slot && parseDocId(id)?.kind === 'job' ? this.jobEvents(id) : [];
    this.set(id, next);
    if (!slot || before.length === 0) return [];
    const present = new Set(this.jobEvents(id).map((e) => e.key));
    const union = [...this.jobEvents(id), ...before.filter((e) => !present.has(e.key))];
    const missing = prune(union).filter((e) => !present.has(e.key));
    return missing.length > 0 ? this.addJobEvents(id, missing, now) : [];
  }
}
