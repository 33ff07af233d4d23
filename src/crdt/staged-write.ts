import * as A from './automerge.js';
import type { DocId } from './doc-id.js';
import type { FlatDoc } from './flat-doc.js';
import type { GossipMessage } from './gossip-message.js';

/**
 * A local write computed but not yet applied to the replica (`MeshState.stageJobEvent`). The shell stores it
 * durably first and applies it after (`MeshState.applyStaged`): until then no sync session or gossip can carry
 * it, so a write whose storage failed is not acknowledged, and is not anywhere else either.
 */
export interface StagedWrite {
  readonly docId: DocId;
  readonly epoch: number;
  /** The replica's document the write was computed on; undefined when the document is new. */
  readonly base: FlatDoc | undefined;
  readonly doc: FlatDoc;
  readonly publish: readonly GossipMessage[];
}

/** The whole staged document, for storage. */
export function saveStaged(staged: StagedWrite): Uint8Array {
  return A.save(staged.doc);
}

/** The staged document's changes since `heads` (heads it descends from: what storage already holds). */
export function saveStagedSince(staged: StagedWrite, heads: readonly string[]): Uint8Array {
  return A.saveSince(staged.doc, [...heads]);
}
