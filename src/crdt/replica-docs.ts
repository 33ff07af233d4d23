/**
 * A replica's documents by id, each with its epoch and the views derived from it, and which of them changed
 * since the shell last persisted: what storage and the sync engine read. No replication rules live here
 * (MeshState adds them); `restore` loads what storage already holds, and a staged write is computed on a copy
 * so that the shell can store it before the replica applies it.
 */
import { err, ok, type Result } from '../lib/result.js';
import * as A from './automerge.js';
import { type DocId, parseDocId } from './doc-id.js';
import { entriesOf, epochOf, type FlatDoc } from './flat-doc.js';
import type { DocSummary, GossipMessage } from './gossip-message.js';
import type { JobRejection } from './job-acceptance.js';
import type { JobView } from './job-log.js';
import type { NodeEntries } from './node-entries.js';
import type { StagedWrite } from './staged-write.js';

/** Derived views are cached on the slot: a new document is a new slot, so they never outlive it. */
export interface Slot {
  readonly doc: FlatDoc;
  readonly epoch: number;
  entries?: Map<string, string>;
  job?: JobSlotView;
  node?: NodeEntries;
}

/** A job document's view and rejection, valid while the trust document is at generation `trust`. */
export interface JobSlotView {
  readonly view: JobView | undefined;
  readonly rejection: JobRejection | undefined;
  readonly trust: number;
}

export abstract class ReplicaDocs {
  protected readonly actor: string;
  readonly #slots = new Map<DocId, Slot>();
  readonly #dirty = new Set<DocId>();

  protected constructor(actor: string) {
    this.actor = actor;
  }

  /** Called whenever a document is replaced (written, adopted, restored or put back): caches may be stale. */
  protected abstract changed(id: DocId): void;

  protected slot(id: DocId): Slot | undefined {
    return this.#slots.get(id);
  }

  protected ids(): IterableIterator<DocId> {
    return this.#slots.keys();
  }

  protected slots(): IterableIterator<[DocId, Slot]> {
    return this.#slots.entries();
  }

  /** Takes `doc` as the document's new copy and marks it for persisting. */
  protected set(id: DocId, doc: FlatDoc): void {
    this.#slots.set(id, { doc, epoch: epochOf(doc) });
    this.#dirty.add(id);
    this.changed(id);
  }

  /** Puts a slot back as it was (undoing a staged write), dirty only if it was before. */
  private putBack(id: DocId, slot: Slot | undefined, wasDirty: boolean): void {
    if (slot) this.#slots.set(id, slot);
    else this.#slots.delete(id);
    if (!wasDirty) this.#dirty.delete(id);
    this.changed(id);
  }

  /** Stands `slot` in for the document without marking it for persisting. */
  private standIn(id: DocId, slot: Slot): void {
    this.#slots.set(id, slot);
  }

  private isDirty(id: DocId): boolean {
    return this.#dirty.has(id);
  }

  protected entries(slot: Slot): Map<string, string> {
    slot.entries ??= entriesOf(slot.doc);
    return slot.entries;
  }

  summaries(): DocSummary[] {
    return [...this.#slots.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([docId, slot]) => ({ docId, epoch: slot.epoch, heads: A.getHeads(slot.doc) }));
  }

  epochOf(docId: DocId): number | undefined {
    return this.#slots.get(docId)?.epoch;
  }

  /** Documents holding changes whose dependencies have not arrived: the shell should sync. */
  missingDeps(): DocId[] {
    return [...this.#slots.entries()]
      .filter(([, slot]) => A.getMissingDeps(slot.doc, []).length > 0)
      .map(([docId]) => docId);
  }

  /** Full document bytes (A.save): what storage and sync send for a document the other side lacks. */
  save(docId: DocId): Uint8Array | undefined {
    const slot = this.#slots.get(docId);
    return slot && A.save(slot.doc);
  }

  /** The changes since `heads` as one chunk (A.saveSince), for the append log. */
  saveSince(docId: DocId, heads: readonly string[]): Uint8Array | undefined {
    const slot = this.#slots.get(docId);
    return slot && A.saveSince(slot.doc, [...heads]);
  }

  heads(docId: DocId): string[] | undefined {
    const slot = this.#slots.get(docId);
    return slot && A.getHeads(slot.doc);
  }

  /** Documents changed (locally or by peers) since the last call. */
  drainDirty(): DocId[] {
    const out = [...this.#dirty];
    this.#dirty.clear();
    return out;
  }

  /**
   * Loads stored bytes (a save or a saveSince chunk) without any of the replication rules: what was stored was
   * already their result. A higher epoch replaces, an equal one merges, a lower one is ignored.
   */
  restore(docId: DocId, epoch: number, bytes: Uint8Array): Result<'loaded' | 'ignored'> {
    if (!parseDocId(docId)) return err(`invalid document id ${docId}`);
    const slot = this.#slots.get(docId);
    if (slot && epoch < slot.epoch) return ok('ignored');
    try {
      const doc =
        slot && epoch === slot.epoch
          ? A.loadIncremental(A.clone(slot.doc), bytes)
          : A.load<Record<string, unknown>>(bytes, { actor: this.actor });
      if (epochOf(doc) !== epoch) return err(`${docId}: stored epoch ${epoch} does not match its content`);
      this.#slots.set(docId, { doc, epoch });
      this.changed(docId);
      return ok('loaded');
    } catch (e) {
      return err(`${docId}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  protected stage(
    id: DocId,
    write: () => { outcome: 'added' | 'duplicate'; publish: GossipMessage[] },
  ): StagedWrite | undefined {
    const saved = this.slot(id);
    const wasDirty = this.isDirty(id);
    // A.change outdates the document it is given: the copy keeps the replica's own document usable.
    if (saved) this.standIn(id, { doc: A.clone(saved.doc, { actor: this.actor }), epoch: saved.epoch });
    try {
      const { outcome, publish } = write();
      const staged = this.slot(id);
      if (outcome !== 'added' || !staged) return undefined;
      return { docId: id, epoch: staged.epoch, base: saved?.doc, doc: staged.doc, publish };
    } finally {
      // Views cached while the copy stood in may reflect it: putting back counts as a change.
      this.putBack(id, saved, wasDirty);
    }
  }

  /**
   * Applies a stored `StagedWrite`; returns its gossip, or undefined when the document moved to another epoch
   * meanwhile (a compaction): the caller stages again on the new copy.
   */
  applyStaged(staged: StagedWrite): readonly GossipMessage[] | undefined {
    const current = this.slot(staged.docId);
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

  generateSyncMessage(docId: DocId, state: A.SyncState): [A.SyncState, Uint8Array | null] {
    const slot = this.#slots.get(docId);
    if (!slot) return [state, null];
    try {
      return A.generateSyncMessage(slot.doc, state);
    } catch {
      // A state Automerge cannot use (whatever a peer managed to put in it) costs a fresh start, not the session.
      return A.generateSyncMessage(slot.doc, A.initSyncState());
    }
  }
}
