/**
 * A peer's input (gossip, a whole document, a sync message) applied to a copy of the local document, checked
 * the way every peer's input is: ids, epochs and change bytes. Nothing here is adopted: MeshState takes the
 * candidate under its replication rules. Hostile input yields an outcome, never a throw.
 */
import { err, ok, type Result } from '../lib/result.js';
import * as A from './automerge.js';
import { checkChange, checkSyncMessage } from './change-bytes.js';
import { type DocId, parseDocId } from './doc-id.js';
import { epochOf, type FlatDoc, headsKey } from './flat-doc.js';
import type { ApplyOutcome, GossipMessage } from './gossip-message.js';
import type { Slot } from './replica-docs.js';

/** The document the input leads to, or why there is none to adopt. */
export type Candidate =
  | { readonly kind: 'candidate'; readonly next: FlatDoc }
  | Exclude<ApplyOutcome, { kind: 'applied' }>;

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export function gossipCandidate(slot: Slot | undefined, gossip: GossipMessage, actor: string): Candidate {
  const { docId, epoch, changes } = gossip;
  if (!parseDocId(docId)) return { kind: 'rejected', reason: `invalid document id ${docId}` };
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
      [next] = A.applyChanges(A.init<Record<string, unknown>>({ actor }), [...changes]);
      // A new epoch is adopted whole or not at all; sync brings the missing part.
      if (A.getMissingDeps(next, []).length > 0) return { kind: 'missing-deps' };
    }
  } catch (e) {
    return { kind: 'rejected', reason: `unusable changes: ${message(e)}` };
  }
  if (epochOf(next) !== epoch) return { kind: 'rejected', reason: `changes do not match epoch ${epoch}` };
  return { kind: 'candidate', next };
}

/** A whole document from a peer (sync of a document this side lacks or holds at a lower epoch). */
export function snapshotCandidate(
  slot: Slot | undefined,
  docId: DocId,
  epoch: number,
  bytes: Uint8Array,
  actor: string,
): Candidate {
  if (!parseDocId(docId)) return { kind: 'rejected', reason: `invalid document id ${docId}` };
  if (slot && epoch < slot.epoch) return { kind: 'stale-epoch' };
  let next: FlatDoc;
  try {
    const loaded = A.load<Record<string, unknown>>(bytes, { actor });
    next = slot && epoch === slot.epoch ? A.merge(A.clone(slot.doc), loaded) : loaded;
  } catch (e) {
    return { kind: 'rejected', reason: `unusable document: ${message(e)}` };
  }
  if (epochOf(next) !== epoch) return { kind: 'rejected', reason: `document does not match epoch ${epoch}` };
  if (slot && headsKey(next) === headsKey(slot.doc)) return { kind: 'duplicate' };
  return { kind: 'candidate', next };
}

/** An Automerge sync message applied to a copy; `next` undefined when it changed nothing. */
export function syncCandidate(
  slot: Slot | undefined,
  docId: DocId,
  state: A.SyncState,
  syncMessage: Uint8Array,
): Result<{ state: A.SyncState; next: FlatDoc | undefined }> {
  if (!slot) return err(`no document ${docId}`);
  const checked = checkSyncMessage(syncMessage);
  if (!checked.ok) return err(`${docId}: ${checked.error}`);
  try {
    const [next, nextState] = A.receiveSyncMessage(A.clone(slot.doc), state, syncMessage);
    if (epochOf(next) !== slot.epoch) return err(`${docId}: sync message changes the epoch`);
    const changed = headsKey(next) !== headsKey(slot.doc);
    return ok({ state: nextState, next: changed ? next : undefined });
  } catch (e) {
    return err(`${docId}: ${message(e)}`);
  }
}
