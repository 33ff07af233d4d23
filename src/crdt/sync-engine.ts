import { sha256 } from '../lib/digest.js';
import { ok, type Result } from '../lib/result.js';
import * as A from './automerge.js';
import { ByteWriter } from './byte-codec.js';
import type { DocId } from './doc-id.js';
import type { DocSummary, GossipMessage } from './gossip-message.js';
import type { MeshState } from './mesh-state.js';
import type { PeerSyncStates } from './peer-sync-states.js';
import {
  type DocBytes,
  decodeSyncFrame,
  encodeSyncFrame,
  MAX_SYNC_FRAME,
  SHORT_DIGEST,
  type SummaryEntry,
  type SyncFrame,
} from './sync-codec.js';

/**
 * Anti-entropy between two peers over one reliable, ordered stream, for all documents at once. Lock-step: the
 * dialer sends `hello`, then each side answers every frame it receives with exactly one frame until one side
 * sends `bye`.
 *
 *   dialer: hello(digest) ─▶ listener: equal digest → bye (done: nothing differs)
 *                                      otherwise   → round(summary)
 *   dialer: round(summary + items) ─▶ listener: round(items) ─▶ … ─▶ an empty round answered by nothing → bye
 *
 * From the two summaries each side knows, per document: absent or older epoch on the other side → send it whole;
 * same epoch, different heads → Automerge sync messages with the per-peer SyncState until both sides have
 * nothing to say; identical → nothing at all.
 */
export type SyncStep =
  | {
      readonly ok: true;
      /** The frame to write to the stream, if any. */
      readonly send: Uint8Array | undefined;
      /** Changes this session caused that must be gossiped (owner rewrites, re-added job events). */
      readonly publish: readonly GossipMessage[];
      readonly done: boolean;
    }
  | { readonly ok: false; readonly error: string };

const ROUND_BUDGET = MAX_SYNC_FRAME / 4;
/**
 * A healthy session settles in a handful of rounds (more only when the round budget splits many documents); one
 * still going after this many is looping, and ends rather than waiting out the session deadline.
 */
export const MAX_ROUNDS = 256;

export interface SyncSessionOptions {
  /**
   * Send every document that differs whole (the peer merges it) instead of Automerge sync messages: for a peer
   * whose last session did not settle. Automerge's sync protocol can loop once its state believes changes were
   * delivered that were not (automerge/automerge#772, #1284); a merged document converges in one round trip.
   */
  readonly wholeDocuments?: boolean;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const shortHash = (text: string): Uint8Array => sha256(text).subarray(0, SHORT_DIGEST);

function headsDigest(summary: DocSummary): Uint8Array {
  return shortHash(`${summary.epoch}:${[...summary.heads].sort().join(',')}`);
}

export function stateDigest(summaries: readonly DocSummary[]): Uint8Array {
  const writer = new ByteWriter();
  for (const s of summaries) writer.string(s.docId).raw(headsDigest(s));
  return sha256(writer.finish());
}

export class SyncSession {
  private finished = false;
  private rounds = 0;
  private sentSummary = false;
  private peerKnown = false;
  private readonly toSend: DocId[] = [];
  private readonly syncing = new Set<DocId>();
  private readonly wanted = new Set<DocId>();
  private readonly live = new Map<DocId, { epoch: number; state: A.SyncState }>();

  constructor(
    private readonly state: MeshState,
    private readonly peer: string,
    private readonly peerStates: PeerSyncStates,
    private readonly options: SyncSessionOptions = {},
  ) {}

  get done(): boolean {
    return this.finished;
  }

  /** The dialer's first frame. */
  start(): Uint8Array {
    return encodeSyncFrame({ kind: 'hello', digest: stateDigest(this.state.summaries()) });
  }

  receive(bytes: Uint8Array, now: number): SyncStep {
    if (this.finished) return { ok: false, error: 'frame after the session ended' };
    if (++this.rounds > MAX_ROUNDS) return this.fail('too many rounds');
    const decoded = decodeSyncFrame(bytes);
    if (!decoded.ok) return this.fail(decoded.error);
    const frame = decoded.value;
    if (frame.kind === 'bye') return this.end(undefined, []);
    if (frame.kind === 'hello') {
      if (hex(frame.digest) === hex(stateDigest(this.state.summaries()))) {
        return this.end(encodeSyncFrame({ kind: 'bye' }), []);
      }
      this.sentSummary = true;
      return this.step(this.round(true), []);
    }
    const publish: GossipMessage[] = [];
    if (frame.summary) this.plan(frame.summary);
    for (const item of frame.snapshots) publish.push(...this.takeSnapshot(item, now));
    for (const docId of frame.wants) this.queueSnapshot(docId);
    for (const item of frame.syncs) {
      const result = this.takeSync(item, now);
      if (!result.ok) return this.fail(result.error);
      publish.push(...result.value);
    }
    // Whatever we rewrote because of this session is news to the peer as well.
    for (const message of publish) this.queueSnapshot(message.docId);
    const includeSummary = !this.sentSummary;
    this.sentSummary = true;
    const reply = this.round(includeSummary);
    const incomingEmpty =
      !frame.summary && frame.snapshots.length + frame.syncs.length + frame.wants.length === 0;
    if (incomingEmpty && isEmpty(reply)) return this.end(encodeSyncFrame({ kind: 'bye' }), publish);
    return this.step(reply, publish);
  }

  private plan(summary: readonly SummaryEntry[]): void {
    this.peerKnown = true;
    const theirs = new Map(summary.map((e) => [hex(e.idHash), e]));
    for (const mine of this.state.summaries()) {
      const other = theirs.get(hex(shortHash(mine.docId)));
      if (!other || other.epoch < mine.epoch) this.queueSnapshot(mine.docId);
      else if (other.epoch === mine.epoch && hex(other.headsDigest) !== hex(headsDigest(mine))) {
        if (this.options.wholeDocuments) {
          this.queueSnapshot(mine.docId);
          // What the stored sync state believed the peer had is what went wrong: start it afresh.
          this.peerStates.set(this.peer, mine.docId, mine.epoch, A.initSyncState());
        } else this.syncing.add(mine.docId);
      }
    }
  }

  private queueSnapshot(docId: DocId): void {
    if (!this.toSend.includes(docId)) this.toSend.push(docId);
  }

  private takeSnapshot(item: DocBytes, now: number): readonly GossipMessage[] {
    const outcome = this.state.receiveSnapshot(item.docId, item.epoch, item.bytes, now);
    this.wanted.delete(item.docId);
    return outcome.kind === 'applied' ? outcome.publish : [];
  }

  private takeSync(item: DocBytes, now: number): Result<readonly GossipMessage[]> {
    const epoch = this.state.epochOf(item.docId);
    if (epoch === undefined || epoch < item.epoch) {
      this.wanted.add(item.docId);
      return ok([]);
    }
    if (epoch > item.epoch) {
      this.queueSnapshot(item.docId);
      return ok([]);
    }
    const received = this.state.receiveSyncMessage(
      item.docId,
      this.syncState(item.docId, epoch),
      item.bytes,
      now,
    );
    if (!received.ok) return received;
    this.keep(item.docId, epoch, received.value.state);
    this.syncing.add(item.docId);
    return ok(received.value.publish);
  }

  private syncState(docId: DocId, epoch: number): A.SyncState {
    const live = this.live.get(docId);
    if (live && live.epoch === epoch) return live.state;
    return this.peerStates.get(this.peer, docId, epoch);
  }

  private keep(docId: DocId, epoch: number, state: A.SyncState): void {
    this.live.set(docId, { epoch, state });
    this.peerStates.set(this.peer, docId, epoch, state);
  }

  private round(includeSummary: boolean): SyncFrame & { kind: 'round' } {
    let budget = ROUND_BUDGET;
    const snapshots: DocBytes[] = [];
    while (this.toSend.length > 0) {
      const docId = this.toSend[0]!;
      const bytes = this.state.save(docId);
      const epoch = this.state.epochOf(docId);
      if (!bytes || epoch === undefined) {
        this.toSend.shift();
        continue;
      }
      // One oversized document still goes alone in a frame; otherwise it waits for the next round.
      if (bytes.length > budget && snapshots.length > 0) break;
      this.toSend.shift();
      this.syncing.delete(docId);
      snapshots.push({ docId, epoch, bytes });
      budget -= bytes.length;
    }
    const syncs: DocBytes[] = [];
    if (this.peerKnown) {
      for (const docId of [...this.syncing].sort()) {
        const epoch = this.state.epochOf(docId);
        if (epoch === undefined || budget <= 0) continue;
        const [state, message] = this.state.generateSyncMessage(docId, this.syncState(docId, epoch));
        this.keep(docId, epoch, state);
        if (!message) continue;
        syncs.push({ docId, epoch, bytes: message });
        budget -= message.length;
      }
    }
    const wants = [...this.wanted].sort();
    this.wanted.clear();
    const summary = includeSummary
      ? this.state.summaries().map((s) => ({
          idHash: shortHash(s.docId),
          epoch: s.epoch,
          headsDigest: headsDigest(s),
        }))
      : undefined;
    return { kind: 'round', summary, snapshots, syncs, wants };
  }

  private step(frame: SyncFrame, publish: readonly GossipMessage[]): SyncStep {
    return { ok: true, send: encodeSyncFrame(frame), publish, done: false };
  }

  private end(send: Uint8Array | undefined, publish: readonly GossipMessage[]): SyncStep {
    this.finished = true;
    return { ok: true, send, publish, done: true };
  }

  private fail(error: string): SyncStep {
    this.finished = true;
    return { ok: false, error };
  }
}

function isEmpty(frame: SyncFrame & { kind: 'round' }): boolean {
  return !frame.summary && frame.snapshots.length + frame.syncs.length + frame.wants.length === 0;
}
