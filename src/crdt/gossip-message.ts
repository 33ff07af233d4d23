import type { DocId } from './doc-id.js';

/** What replicas exchange: a document's changes at one epoch, and what applying them came to. */
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

/** One document as the sync engine compares it. */
export interface DocSummary {
  readonly docId: DocId;
  readonly epoch: number;
  readonly heads: readonly string[];
}
