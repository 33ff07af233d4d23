import { compareText } from '../lib/compare-text.js';
import { err, ok, type Result } from '../lib/result.js';
import * as A from './automerge.js';
import { canonicalJson, type JsonValue } from './canonical-json.js';
import { type DocId, isJobName, jobDocId, nodeDocId, parseDocId, TRUST_DOC_ID } from './doc-id.js';
import { entriesOf, epochOf, type FlatDoc, freshDoc, writeEntries } from './flat-doc.js';
import type { ApplyOutcome, GossipMessage } from './gossip-message.js';
import { type JobRejection, jobRejectionOf, splitJobEvents } from './job-acceptance.js';
import { jobEventRejection } from './job-auth.js';
import {
  deriveJob,
  eventText,
  type JobEvent,
  type JobView,
  KEPT_VERSIONS,
  type KeyedEvent,
  keyed,
  prune,
  readEvents,
} from './job-log.js';
import type { StatusKind } from './job-plan.js';
import { planStatusEvent, planSubmitEvent, type StatusOutcome, type SubmitOutcome } from './job-plan.js';
import type { JobSpec } from './job-spec.js';
import type { MeshStateOptions } from './mesh-options.js';
import {
  ALLOC,
  type NodeEntries,
  ownEntryText,
  ownerSignatureProblem,
  RECORD,
  RETIRED,
  readNodeEntries,
} from './node-entries.js';
import { NoteLog } from './note-log.js';
import { type AllocStatus, allocStatusSchema, type NodeRecord, nodeRecordSchema } from './records.js';
import { checkReloads } from './reload-check.js';
import { gossipCandidate, snapshotCandidate, syncCandidate } from './remote-input.js';
import type { JobSlotView, Slot } from './replica-docs.js';
import type { Sign } from './signature.js';
import type { StagedWrite } from './staged-write.js';
import { checkedTrustEntry, deriveTrust, type TrustChange, type TrustView } from './trust.js';
import { VarDocs } from './var-docs.js';

export type { ApplyOutcome, DocSummary, GossipMessage } from './gossip-message.js';
export type { JobRejection } from './job-acceptance.js';
export type { StatusOutcome, SubmitOutcome } from './job-plan.js';
export { actorFor, type MeshStateOptions } from './mesh-options.js';
export { RECORD_DOMAIN } from './node-entries.js';

export type CommitOutcome = 'added' | 'duplicate';

/**
 * The replicated state an agent holds: one Automerge document per job and one per node (see README.md for why).
 * Deterministic and free of I/O: time and the actor id come in as arguments, every local operation returns the
 * gossip to publish, and the shell persists what `drainDirty` names.
 *
 * Epochs: a document is rewritten fresh (one change, no history) at epoch + 1 to keep its history bounded.
 * Replicas never merge across epochs: a higher epoch replaces their copy, a lower one is stale.
 */
export class MeshState extends VarDocs {
  readonly self: string;
  private readonly compactAfterChanges: number;
  private readonly ownId: DocId;
  /** Once this session has written its own document, its local view is the truth and is never merged over. */
  private ownWritten = false;
  private readonly sign: Sign | undefined;
  private readonly genesis: readonly string[] | undefined;
  /** Bumped whenever the trust document changes: cached job views depend on it. */
  private trustGeneration = 0;
  private trustCache: { generation: number; view: TrustView } | undefined;
  /** What was ignored and why (forged records, unsigned events), for the shell to log once each. */
  private readonly notes = new NoteLog();

  constructor(options: MeshStateOptions) {
    super(options.actor);
    this.self = options.self;
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
    spec: JsonValue | JobSpec,
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
    spec: JsonValue | JobSpec,
    by: string,
    now: number,
  ): { outcome: SubmitOutcome; version: number; event?: JobEvent } {
    if (!isJobName(name)) throw new RangeError(`invalid job name: ${name}`);
    return planSubmitEvent(name, this.jobEvents(jobDocId(name)), spec, by, now);
  }

  /** The stop, purge or promote event for `name`, unsigned; none when the job is missing or already so. */
  planStatus(
    name: string,
    kind: StatusKind,
    by: string,
    now: number,
  ): { outcome: StatusOutcome; event?: JobEvent } {
    const view = this.job(name);
    return planStatusEvent(view, view ? this.jobEvents(jobDocId(name)) : [], kind, by, now);
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
    const slot = this.slot(TRUST_DOC_ID);
    const [key, value] = checkedTrustEntry(this.genesis, slot ? this.entries(slot) : new Map(), change);
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
      const slot = this.slot(TRUST_DOC_ID);
      const view = deriveTrust(this.genesis, slot ? this.entries(slot) : new Map());
      for (const { key, reason } of view.rejected) this.notes.note(`${TRUST_DOC_ID} ${key}`, reason);
      this.trustCache = { generation: this.trustGeneration, view };
    }
    return this.trustCache.view;
  }

  isRevoked(peerId: string): boolean {
    return this.trust().revoked.has(peerId);
  }

  /** What was ignored since the last call and why (each thing once): the shell logs it. */
  drainNotes(): string[] {
    return this.notes.drain();
  }

  /**
   * This node's own document whole, as one gossip message, for announcing itself to a mesh that joined after its
   * record was written: a peer that lacks the document applies it without a sync. Empty before the first write.
   */
  announceOwn(): GossipMessage[] {
    const slot = this.slot(this.ownId);
    return slot ? [{ docId: this.ownId, epoch: slot.epoch, changes: A.getAllChanges(slot.doc) }] : [];
  }

  putNodeRecord(record: NodeRecord, now: number): GossipMessage[] {
    const checked = nodeRecordSchema.parse(record);
    if (checked.peerId !== this.self) throw new RangeError(`record of ${checked.peerId} is not ours`);
    return this.writeOwn([[RECORD, ownEntryText(RECORD, checked, this.self, this.sign)]], [], now);
  }

  /** Call on state transitions only: the history of this document is what the mesh stores. */
  putAllocStatus(status: AllocStatus, now: number): GossipMessage[] {
    const checked = allocStatusSchema.parse(status);
    if (checked.node !== this.self) throw new RangeError(`allocation ${checked.allocId} runs elsewhere`);
    const key = ALLOC + checked.allocId;
    return this.writeOwn([[key, ownEntryText(key, checked, this.self, this.sign)]], [], now);
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
    const slot = this.slot(id);
    if (!slot || this.entries(slot).has(RETIRED)) return [];
    return [this.replaceFresh(id, slot.epoch + 1, [[RETIRED, canonicalJson({ at: now, by })]], now)];
  }

  // ---- remote input ----

  applyGossip(message: GossipMessage, now: number): ApplyOutcome {
    const candidate = gossipCandidate(this.slot(message.docId), message, this.actor);
    if (candidate.kind !== 'candidate') return candidate;
    const publish = this.integrate(message.docId, candidate.next, now);
    if (!publish.ok) return { kind: 'rejected', reason: publish.error };
    return A.getMissingDeps(candidate.next, []).length > 0
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

  /** A whole document from a peer (sync of a document this side lacks or holds at a lower epoch). */
  receiveSnapshot(docId: DocId, epoch: number, bytes: Uint8Array, now: number): ApplyOutcome {
    const candidate = snapshotCandidate(this.slot(docId), docId, epoch, bytes, this.actor);
    if (candidate.kind !== 'candidate') return candidate;
    const publish = this.integrate(docId, candidate.next, now);
    return publish.ok
      ? { kind: 'applied', publish: publish.value }
      : { kind: 'rejected', reason: publish.error };
  }

  receiveSyncMessage(
    docId: DocId,
    state: A.SyncState,
    message: Uint8Array,
    now: number,
  ): Result<{ state: A.SyncState; publish: GossipMessage[] }> {
    const candidate = syncCandidate(this.slot(docId), docId, state, message);
    if (!candidate.ok) return candidate;
    const { state: nextState, next } = candidate.value;
    if (!next) return ok({ state: nextState, publish: [] });
    try {
      const publish = this.integrate(docId, next, now);
      return publish.ok
        ? ok({ state: nextState, publish: publish.value })
        : err(`${docId}: ${publish.error}`);
    } catch (e) {
      return err(`${docId}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  // ---- internals ----

  protected changed(docId: DocId): void {
    if (docId === TRUST_DOC_ID) this.trustGeneration++;
  }

  /** The events of a job that count: all of them in an open mesh, the operator-signed ones in a closed one. */
  private jobEvents(id: DocId): KeyedEvent[] {
    return this.splitJobEvents(id).accepted;
  }

  private splitJobEvents(id: DocId): ReturnType<typeof splitJobEvents> {
    const slot = this.slot(id);
    const all = slot ? readEvents(this.entries(slot)) : [];
    const parsed = parseDocId(id);
    const operators = this.genesis && parsed?.kind === 'job' ? this.trust().operators : undefined;
    return splitJobEvents(parsed?.kind === 'job' ? parsed.name : '', all, operators);
  }

  /** Every job document's derived view and rejection, by document id. */
  private jobSlots(): JobSlotView[] {
    const out: JobSlotView[] = [];
    for (const id of [...this.ids()].sort()) {
      const parsed = parseDocId(id);
      const job = parsed?.kind === 'job' ? this.jobView(id, parsed.name) : undefined;
      if (job) out.push(job);
    }
    return out;
  }

  private jobView(id: DocId, name: string): JobSlotView | undefined {
    const slot = this.slot(id);
    if (!slot) return undefined;
    if (slot.job?.trust === this.trustGeneration) return slot.job;
    const split = this.splitJobEvents(id);
    const rejection = jobRejectionOf(name, split, (e, reason) => this.notes.note(`${id} ${e.key}`, reason));
    slot.job = { view: deriveJob(name, split.accepted), rejection, trust: this.trustGeneration };
    return slot.job;
  }

  /** Node documents that count: not retired, not of a revoked device; with their verified records. */
  private *liveNodes(): Generator<[string, NodeEntries]> {
    const revoked = this.trust().revoked;
    for (const [id, slot] of this.slots()) {
      const parsed = parseDocId(id);
      if (parsed?.kind !== 'node' || revoked.has(parsed.peerId)) continue;
      const entries = this.entries(slot);
      if (entries.has(RETIRED)) continue;
      slot.node ??= readNodeEntries(
        parsed.peerId,
        entries,
        this.sign && ((key, value, text) => this.owned(id, key, value, text)),
      );
      yield [parsed.peerId, slot.node];
    }
  }

  /** With owned records on, an entry counts only with its owner's signature; a forgery is noted. */
  private owned(id: DocId, key: string, value: NodeRecord | AllocStatus, text: string): boolean {
    const problem = ownerSignatureProblem(key, value, text);
    if (problem) this.notes.note(`${id} ${key}`, problem);
    return problem === undefined;
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
    const slot = this.slot(id);
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
    const slot = this.slot(id);
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
    const slot = this.slot(id);
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
