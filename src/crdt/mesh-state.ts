import { z } from 'zod';
import { compareText } from '../lib/compare-text.js';
import { sha256Hex } from '../lib/digest.js';
import { parseJson } from '../lib/json-text.js';
import { err, ok, type Result } from '../lib/result.js';
import * as A from './automerge.js';
import { canonicalJson, type JsonValue } from './canonical-json.js';
import { checkChange, checkSyncMessage } from './change-bytes.js';
import { type DocId, isJobName, jobDocId, nodeDocId, parseDocId, TRUST_DOC_ID } from './doc-id.js';
import { entriesOf, epochOf, type FlatDoc, freshDoc, headsKey, writeEntries } from './flat-doc.js';
import { jobEventRejection } from './job-auth.js';
import {
  compareEvents,
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
import { checkReloads } from './reload-check.js';
import { type Sign, signValue, verifyValue } from './signature.js';
import type { StagedWrite } from './staged-write.js';
import { deriveTrust, type TrustChange, type TrustView, trustEntry } from './trust.js';

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
  /**
   * Signs with this node's identity key (the one `self` names). Given, this node signs its own records and
   * every node's records count only with their owner's signature (owned records).
   */
  readonly sign?: Sign;
  /**
   * The mesh's initial operator keys (peer-id form). Given, the mesh is closed: job events count only when a
   * trusted operator signed them, and the trust document (operators added or removed, devices revoked) applies.
   * Absent, the mesh is open (development): unsigned jobs run and nothing can be revoked.
   */
  readonly operators?: readonly string[];
}

/** Why a job's newest event does not count (a closed mesh): what `job status` shows as `rejected`. */
export interface JobRejection {
  readonly name: string;
  readonly reason: string;
  readonly at: number;
  readonly by: string;
}

export type CommitOutcome = 'added' | 'duplicate';

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
  job?: { view: JobView | undefined; rejection: JobRejection | undefined; trust: number };
  node?: { record: NodeRecord | undefined; allocations: AllocStatus[] };
}

export const RECORD_DOMAIN = 'node-entry';
const MAX_NOTES = 256;

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
  private readonly sign: Sign | undefined;
  private readonly genesis: readonly string[] | undefined;
  /** Bumped whenever the trust document changes: cached job views depend on it. */
  private trustGeneration = 0;
  private trustCache: { generation: number; view: TrustView } | undefined;
  /** What was ignored and why (forged records, unsigned events), for the shell to log once each. */
  private notes: string[] = [];
  private readonly noted = new Set<string>();

  constructor(options: MeshStateOptions) {
    this.self = options.self;
    this.actor = options.actor;
    this.compactAfterChanges = options.compactAfterChanges ?? 64;
    this.ownId = nodeDocId(options.self);
    this.sign = options.sign;
    this.genesis = options.operators;
  }

  /** Whether job events must carry an operator's signature. */
  get closed(): boolean {
    return this.genesis !== undefined;
  }

  // ---- local operations: each returns the gossip to publish ----

  submitJob(
    name: string,
    spec: JsonValue,
    by: string,
    now: number,
  ): { outcome: SubmitOutcome; version: number; publish: GossipMessage[] } {
    const plan = this.planSubmit(name, spec, by, now);
    const publish = plan.event ? this.commitJobEvent(name, plan.event, now).publish : [];
    return { outcome: plan.outcome, version: plan.version, publish };
  }

  /**
   * The event `submitJob` would add, without adding it: in a closed mesh an operator signs it (job-auth.ts) and
   * hands it to `commitJobEvent`. No event when the job already runs this spec.
   */
  planSubmit(
    name: string,
    spec: JsonValue,
    by: string,
    now: number,
  ): { outcome: SubmitOutcome; version: number; event?: JobEvent } {
    if (!isJobName(name)) throw new RangeError(`invalid job name: ${name}`);
    const id = jobDocId(name);
    const events = this.jobEvents(id);
    const view = deriveJob(name, events);
    const specText = canonicalJson(spec);
    const base = { seq: nextSeq(events), at: now, by };
    if (view && canonicalJson(view.current.spec) === specText) {
      if (view.desired === 'running') return { outcome: 'unchanged', version: view.current.version };
      return { outcome: 'started', version: view.current.version, event: { kind: 'start', ...base } };
    }
    const version = nextVersion(events);
    const event: JobEvent = { kind: 'submit', ...base, version, spec: specText };
    return { outcome: view ? 'updated' : 'created', version, event };
  }

  /** The stop or purge event for `name`, unsigned; none when the job is missing or already stopped. */
  planStatus(
    name: string,
    kind: 'stop' | 'purge',
    by: string,
    now: number,
  ): { outcome: StatusOutcome; event?: JobEvent } {
    const view = this.job(name);
    if (!view) return { outcome: 'not-found' };
    if (kind === 'stop' && view.desired === 'stopped') return { outcome: 'unchanged' };
    const events = this.jobEvents(jobDocId(name));
    const base = { seq: nextSeq(events), at: now, by };
    const event: JobEvent =
      kind === 'stop'
        ? { kind: 'stop', ...base }
        : { kind: 'purge', ...base, version: nextVersion(events) - 1 };
    return { outcome: 'changed', event };
  }

  /**
   * Adds one job event (planned by `planSubmit`/`planStatus`, signed in a closed mesh). An event that would not
   * count here is refused with the reason, so an operator hears it at once rather than from `job status`.
   */
  commitJobEvent(
    name: string,
    event: JobEvent,
    now: number,
  ): { outcome: CommitOutcome; publish: GossipMessage[] } {
    if (!isJobName(name)) throw new RangeError(`invalid job name: ${name}`);
    if (this.genesis) {
      const reason = jobEventRejection(name, event, this.trust().operators);
      if (reason) throw new RangeError(`job "${name}": ${reason}`);
    }
    const publish = this.addJobEvents(jobDocId(name), [keyed(event)], now);
    return { outcome: publish.length > 0 ? 'added' : 'duplicate', publish };
  }

  /**
   * What `commitJobEvent` would write, computed on a copy: the replica stays as it was (and refusals are thrown
   * the same way). Undefined when the event is already there. The shell stores the result, then `applyStaged`.
   */
  stageJobEvent(name: string, event: JobEvent, now: number): StagedWrite | undefined {
    return this.stage(jobDocId(name), () => this.commitJobEvent(name, event, now));
  }

  /** `addTrustChange` computed on a copy, as `stageJobEvent`. */
  stageTrustChange(change: TrustChange, now: number): StagedWrite | undefined {
    return this.stage(TRUST_DOC_ID, () => this.addTrustChange(change, now));
  }

  private stage(
    id: DocId,
    write: () => { outcome: CommitOutcome; publish: GossipMessage[] },
  ): StagedWrite | undefined {
    const saved = this.slots.get(id);
    const wasDirty = this.dirty.has(id);
    // A.change outdates the document it is given: the copy keeps the replica's own document usable.
    if (saved) this.slots.set(id, { doc: A.clone(saved.doc, { actor: this.actor }), epoch: saved.epoch });
    try {
      const { outcome, publish } = write();
      const staged = this.slots.get(id);
      if (outcome !== 'added' || !staged) return undefined;
      return { docId: id, epoch: staged.epoch, base: saved?.doc, doc: staged.doc, publish };
    } finally {
      if (saved) this.slots.set(id, saved);
      else this.slots.delete(id);
      if (!wasDirty) this.dirty.delete(id);
      // Views cached while the copy stood in may reflect it: bumping (never rewinding) invalidates them.
      if (id === TRUST_DOC_ID) this.trustGeneration++;
    }
  }

  /**
   * Applies a stored `StagedWrite`; returns its gossip, or undefined when the document moved to another epoch
   * meanwhile (a compaction): the caller stages again on the new copy.
   */
  applyStaged(staged: StagedWrite): readonly GossipMessage[] | undefined {
    const current = this.slots.get(staged.docId);
    if (current?.doc === staged.base) {
      this.set(staged.docId, staged.doc);
      return staged.publish;
    }
    // Changes that arrived while the write was being stored: the same epoch merges as a union.
    if (!current || !staged.base || current.epoch !== staged.epoch || epochOf(staged.base) !== staged.epoch) {
      return undefined;
    }
    try {
      this.set(staged.docId, A.merge(A.clone(current.doc, { actor: this.actor }), staged.doc));
      return staged.publish;
    } catch {
      return undefined;
    }
  }

  stopJob(name: string, by: string, now: number): { outcome: StatusOutcome; publish: GossipMessage[] } {
    return this.jobStatus(name, 'stop', by, now);
  }

  /** Removes the job from every view; its document keeps only a tombstone. Resubmitting the name starts anew. */
  purgeJob(name: string, by: string, now: number): { outcome: StatusOutcome; publish: GossipMessage[] } {
    return this.jobStatus(name, 'purge', by, now);
  }

  /** Adds an operator-signed trust change; one that would not count under the present chain is refused. */
  addTrustChange(change: TrustChange, now: number): { outcome: CommitOutcome; publish: GossipMessage[] } {
    if (!this.genesis) throw new RangeError('this mesh is open (no operators): there is nothing to change');
    const [key, value] = trustEntry(change);
    const slot = this.slots.get(TRUST_DOC_ID);
    const entries = new Map(slot ? this.entries(slot) : []);
    entries.set(key, value);
    const rejected = deriveTrust(this.genesis, entries).rejected.find((r) => r.key === key);
    if (rejected) throw new RangeError(`trust change refused: ${rejected.reason}`);
    if (!slot)
      return { outcome: 'added', publish: [this.replaceFresh(TRUST_DOC_ID, 0, [[key, value]], now)] };
    const next = writeEntries(slot.doc, [[key, value]], [], now);
    if (next === slot.doc) return { outcome: 'duplicate', publish: [] };
    this.set(TRUST_DOC_ID, next);
    return {
      outcome: 'added',
      publish: [{ docId: TRUST_DOC_ID, epoch: slot.epoch, changes: [A.getLastLocalChange(next)!] }],
    };
  }

  /** Trusted operators and revoked devices as the chain from the genesis operators says (empty when open). */
  trust(): TrustView {
    if (!this.genesis) return { operators: new Set(), revoked: new Set(), drained: new Set(), rejected: [] };
    if (this.trustCache?.generation !== this.trustGeneration) {
      const slot = this.slots.get(TRUST_DOC_ID);
      const view = deriveTrust(this.genesis, slot ? this.entries(slot) : new Map());
      for (const { key, reason } of view.rejected) this.note(`${TRUST_DOC_ID} ${key}`, reason);
      this.trustCache = { generation: this.trustGeneration, view };
    }
    return this.trustCache.view;
  }

  isRevoked(peerId: string): boolean {
    return this.trust().revoked.has(peerId);
  }

  /** What was ignored since the last call and why (each thing once): the shell logs it. */
  drainNotes(): string[] {
    const out = this.notes;
    this.notes = [];
    return out;
  }

  /**
   * This node's own document whole, as one gossip message, for announcing itself to a mesh that joined after its
   * record was written: a peer that lacks the document applies it without a sync. Empty before the first write.
   */
  announceOwn(): GossipMessage[] {
    const slot = this.slots.get(this.ownId);
    return slot ? [{ docId: this.ownId, epoch: slot.epoch, changes: A.getAllChanges(slot.doc) }] : [];
  }

  putNodeRecord(record: NodeRecord, now: number): GossipMessage[] {
    const checked = nodeRecordSchema.parse(record);
    if (checked.peerId !== this.self) throw new RangeError(`record of ${checked.peerId} is not ours`);
    return this.writeOwn([[RECORD, this.ownEntry(RECORD, checked)]], [], now);
  }

  /** Call on state transitions only: the history of this document is what the mesh stores. */
  putAllocStatus(status: AllocStatus, now: number): GossipMessage[] {
    const checked = allocStatusSchema.parse(status);
    if (checked.node !== this.self) throw new RangeError(`allocation ${checked.allocId} runs elsewhere`);
    const key = ALLOC + checked.allocId;
    return this.writeOwn([[key, this.ownEntry(key, checked)]], [], now);
  }

  /** The stored text of one of this node's entries: signed by its identity when records are owned. */
  private ownEntry(key: string, value: NodeRecord | AllocStatus): string {
    if (!this.sign) return canonicalJson(value);
    const { sig } = signValue(RECORD_DOMAIN, { key, value }, this.self, this.sign);
    return canonicalJson({ ...value, sig });
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
    if (!publish.ok) return { kind: 'rejected', reason: publish.error };
    return A.getMissingDeps(next, []).length > 0
      ? { kind: 'missing-deps' }
      : { kind: 'applied', publish: publish.value };
  }

  // ---- read-only views (plain data) ----

  jobs(): JobView[] {
    return this.jobSlots().flatMap((job) => (job.view ? [job.view] : []));
  }

  job(name: string): JobView | undefined {
    return isJobName(name) ? this.jobView(jobDocId(name), name)?.view : undefined;
  }

  /**
   * Jobs whose newest event does not count (closed mesh): unsigned, forged, or signed by a key that is not a
   * trusted operator. Such a job never runs; if an earlier version was signed, that one stays in force.
   */
  jobRejections(): JobRejection[] {
    return this.jobSlots().flatMap((job) => (job.rejection ? [job.rejection] : []));
  }

  jobRejection(name: string): JobRejection | undefined {
    return isJobName(name) ? this.jobView(jobDocId(name), name)?.rejection : undefined;
  }

  nodes(): NodeRecord[] {
    const out: NodeRecord[] = [];
    for (const [, view] of this.liveNodes()) if (view.record) out.push(view.record);
    return out.sort((a, b) => compareText(a.peerId, b.peerId));
  }

  allocations(): AllocStatus[] {
    const out: AllocStatus[] = [];
    for (const [, view] of this.liveNodes()) out.push(...view.allocations);
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
    const publish = this.integrate(docId, next, now);
    return publish.ok
      ? { kind: 'applied', publish: publish.value }
      : { kind: 'rejected', reason: publish.error };
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
      if (!changed) return ok({ state: nextState, publish: [] });
      const publish = this.integrate(docId, next, now);
      return publish.ok
        ? ok({ state: nextState, publish: publish.value })
        : err(`${docId}: ${publish.error}`);
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
    if (docId === TRUST_DOC_ID) this.trustGeneration++;
  }

  private note(what: string, reason: string): void {
    const key = `${what}\0${reason}`;
    if (this.noted.has(key)) return;
    if (this.noted.size >= 4 * MAX_NOTES) this.noted.clear();
    this.noted.add(key);
    if (this.notes.length < MAX_NOTES) this.notes.push(`${what}: ${reason}`);
  }

  /** The events of a job that count: all of them in an open mesh, the operator-signed ones in a closed one. */
  private jobEvents(id: DocId): KeyedEvent[] {
    return this.splitJobEvents(id).accepted;
  }

  private splitJobEvents(id: DocId): { accepted: KeyedEvent[]; rejected: [KeyedEvent, string][] } {
    const slot = this.slots.get(id);
    const all = slot ? readEvents(this.entries(slot)) : [];
    const parsed = parseDocId(id);
    if (!this.genesis || parsed?.kind !== 'job') return { accepted: all, rejected: [] };
    const operators = this.trust().operators;
    const accepted: KeyedEvent[] = [];
    const rejected: [KeyedEvent, string][] = [];
    for (const e of all) {
      const reason = jobEventRejection(parsed.name, e.event, operators);
      if (reason) rejected.push([e, reason]);
      else accepted.push(e);
    }
    return { accepted, rejected };
  }

  /** Every job document's derived view and rejection, by document id. */
  private jobSlots(): NonNullable<Slot['job']>[] {
    const out: NonNullable<Slot['job']>[] = [];
    for (const id of [...this.slots.keys()].sort()) {
      const parsed = parseDocId(id);
      const job = parsed?.kind === 'job' ? this.jobView(id, parsed.name) : undefined;
      if (job) out.push(job);
    }
    return out;
  }

  private jobView(id: DocId, name: string): NonNullable<Slot['job']> | undefined {
    const slot = this.slots.get(id);
    if (!slot) return undefined;
    if (slot.job?.trust === this.trustGeneration) return slot.job;
    const { accepted, rejected } = this.splitJobEvents(id);
    const newest = accepted.reduce<KeyedEvent | undefined>(
      (max, e) => (max && compareEvents(max, e) >= 0 ? max : e),
      undefined,
    );
    let rejection: JobRejection | undefined;
    for (const [e, reason] of rejected) {
      this.note(`${id} ${e.key}`, reason);
      if (newest && compareEvents(e, newest) < 0) continue;
      if (!rejection || e.event.at >= rejection.at)
        rejection = { name, reason, at: e.event.at, by: e.event.by };
    }
    slot.job = { view: deriveJob(name, accepted), rejection, trust: this.trustGeneration };
    return slot.job;
  }

  /** Node documents that count: not retired, not of a revoked device; with their verified records. */
  private *liveNodes(): Generator<[string, NonNullable<Slot['node']>]> {
    const revoked = this.trust().revoked;
    for (const [id, slot] of this.slots) {
      const parsed = parseDocId(id);
      if (parsed?.kind !== 'node' || revoked.has(parsed.peerId)) continue;
      const entries = this.entries(slot);
      if (entries.has(RETIRED)) continue;
      slot.node ??= this.readNode(id, parsed.peerId, entries);
      yield [parsed.peerId, slot.node];
    }
  }

  private readNode(id: DocId, peerId: string, entries: Map<string, string>): NonNullable<Slot['node']> {
    let record: NodeRecord | undefined;
    const allocations: AllocStatus[] = [];
    for (const [key, text] of entries) {
      if (key === RECORD) {
        const value = parseStored(nodeRecordSchema, text);
        if (value?.peerId === peerId && this.owned(id, key, value, text)) record = value;
      } else if (key.startsWith(ALLOC)) {
        const status = parseStored(allocStatusSchema, text);
        if (
          status &&
          status.node === peerId &&
          ALLOC + status.allocId === key &&
          this.owned(id, key, status, text)
        )
          allocations.push(status);
      }
    }
    return { record, allocations };
  }

  /** With owned records on, an entry counts only with its owner's signature; a forgery is noted. */
  private owned(id: DocId, key: string, value: NodeRecord | AllocStatus, text: string): boolean {
    if (!this.sign) return true;
    const owner = 'peerId' in value ? value.peerId : value.node;
    // Verified over the stored JSON, not the parsed value: an agent whose schema lacks a field a newer owner
    // wrote must still accept the owner's signature. The caller parsed `text` already, so it is JSON.
    const { sig: raw, ...stored } = parseJson(text) as Record<string, unknown>;
    const sig = signatureField.safeParse({ sig: raw }).data?.sig;
    if (sig && verifyValue(RECORD_DOMAIN, { key, value: stored }, { signer: owner, sig })) return true;
    this.note(`${id} ${key}`, sig ? 'forged owner signature' : 'unsigned record');
    return false;
  }

  private jobStatus(
    name: string,
    kind: 'stop' | 'purge',
    by: string,
    now: number,
  ): { outcome: StatusOutcome; publish: GossipMessage[] } {
    const plan = this.planStatus(name, kind, by, now);
    if (!plan.event) return { outcome: plan.outcome, publish: [] };
    return { outcome: plan.outcome, publish: this.addJobEvents(jobDocId(name), [keyed(plan.event)], now) };
  }

  private addJobEvents(id: DocId, events: readonly KeyedEvent[], now: number): GossipMessage[] {
    const puts = events.map((e) => [e.key, eventText(e.event)] as const);
    const slot = this.slots.get(id);
    if (!slot) return [this.replaceFresh(id, 0, puts, now)];
    const next = writeEntries(slot.doc, puts, [], now);
    if (next === slot.doc) return [];
    this.set(id, next);
    const all = this.jobEvents(id);
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

  /** Adopts a document built from a peer's input; one that would not load again after a restart is refused. */
  private integrate(id: DocId, next: FlatDoc, now: number): Result<GossipMessage[]> {
    const reloads = checkReloads(next);
    if (!reloads.ok) return reloads;
    return ok(this.adopt(id, next, now));
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
  private adopt(id: DocId, next: FlatDoc, now: number): GossipMessage[] {
    const slot = this.slots.get(id);
    if (slot && id === this.ownId && this.ownWritten) {
      const epoch = Math.max(epochOf(next), slot.epoch) + 1;
      return [this.replaceFresh(id, epoch, this.entries(slot), now)];
    }
    if (slot && id === TRUST_DOC_ID) return this.keepTrustEntries(slot, next, now);
    const before = slot && parseDocId(id)?.kind === 'job' ? this.jobEvents(id) : [];
    this.set(id, next);
    if (!slot || before.length === 0) return [];
    const after = this.jobEvents(id);
    const present = new Set(after.map((e) => e.key));
    const missing = prune([...after, ...before.filter((e) => !present.has(e.key))]).filter(
      (e) => !present.has(e.key),
    );
    return missing.length > 0 ? this.addJobEvents(id, missing, now) : [];
  }

  /**
   * Trust changes are never dropped: a copy that lacks some (a peer's rewrite at a higher epoch, hostile or not)
   * is adopted and the missing ones written back, so an agent cannot make the mesh forget a revocation.
   */
  private keepTrustEntries(slot: Slot, next: FlatDoc, now: number): GossipMessage[] {
    const before = this.entries(slot);
    this.set(TRUST_DOC_ID, next);
    const present = entriesOf(next);
    const missing = [...before].filter(([key]) => !present.has(key));
    if (missing.length === 0) return [];
    const written = writeEntries(next, missing, [], now);
    this.set(TRUST_DOC_ID, written);
    return [{ docId: TRUST_DOC_ID, epoch: epochOf(written), changes: [A.getLastLocalChange(written)!] }];
  }
}

const signatureField = z.object({ sig: z.string().max(128) });
