import * as A from './automerge.js';
import { err, ok, type Result } from './result.js';

/**
 * Checks the invariant Automerge assumes but does not enforce on changes it receives: one actor's changes form a
 * chain, one change per sequence number, each with op counters above those of the actor's earlier changes. A
 * well-checksummed change that reuses an actor's sequence number or op counters (a mutated copy of a real
 * change, found by the gossip fuzzer) is applied, the document reads fine, and `A.load` of its saved bytes then
 * panics inside the WebAssembly (duplicate op ids): after the next restart the document is gone, and every peer
 * it was gossiped to has the same poisoned copy. Reads metadata only (no ops), so it costs O(changes).
 */
export function checkActorHistory(doc: A.Doc<unknown>): Result<void> {
  const byActor = new Map<string, { seq: number; startOp: number; maxOp: number }[]>();
  for (const change of A.getChangesMetaSince(doc, [])) {
    const chain = byActor.get(change.actor) ?? [];
    chain.push({ seq: change.seq, startOp: change.startOp, maxOp: change.maxOp });
    byActor.set(change.actor, chain);
  }
  for (const [actor, chain] of byActor) {
    chain.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < chain.length; i++) {
      const [before, after] = [chain[i - 1]!, chain[i]!];
      if (after.seq === before.seq) return err(`actor ${actor} has two changes with seq ${after.seq}`);
      if (after.startOp <= before.maxOp)
        return err(`actor ${actor}: change ${after.seq} reuses op counters of change ${before.seq}`);
    }
  }
  return ok(undefined);
}
