import { err, ok, type Result } from '../lib/result.js';
import * as A from './automerge.js';

/**
 * Checks that a document built from a peer's changes saves and loads again. Automerge applies changes that break
 * invariants it relies on only when it loads a saved document: the fuzzers found a resealed copy of a real change
 * under another sequence number (duplicate op ids: `A.load` panicked inside the WebAssembly) and a pair of changes
 * whose ops did not add up ("invalid changes: missing ops"). Such a document reads fine until the agent restarts;
 * then it is gone, and every peer it was gossiped to holds the same poisoned copy. checkChange catches what one
 * change shows on its own; this catches what only the whole history shows, at the cost of one save and load of
 * the document per batch of remote changes: about 0.5 ms for a node's document with 40 statuses (documents stay
 * small by design: they are compacted).
 */
export function checkReloads(doc: A.Doc<unknown>): Result<void> {
  try {
    // Automerge's own save-then-load, inside the WebAssembly: a third of A.load(A.save()), no JS document built.
    A.getBackend(doc).saveAndVerify();
    return ok(undefined);
  } catch (e) {
    return err(`the document would not load again: ${e instanceof Error ? e.message : String(e)}`);
  }
}
