import type { Result } from '../lib/result.js';
import * as A from './automerge.js';
import { ByteWriter, decodeAll } from './byte-codec.js';
import { type DocId, isDocId } from './doc-id.js';

/**
 * Automerge sync states per peer and document, kept so that a reconnect resumes from what both sides already
 * share instead of resending a whole-history filter. Stored encoded (encodeSyncState keeps only the shared heads,
 * which is what survives a session). Bounded: the least recently used peers are forgotten first.
 */
interface Stored {
  readonly epoch: number;
  readonly bytes: Uint8Array;
}

const FORMAT = 1;

export class PeerSyncStates {
  private readonly peers = new Map<string, Map<DocId, Stored>>();
  private changed = false;

  constructor(readonly maxPeers = 16) {}

  /** A fresh state when none is stored or the stored one belongs to another epoch of the document. */
  get(peer: string, docId: DocId, epoch: number): A.SyncState {
    const stored = this.peers.get(peer)?.get(docId);
    if (!stored || stored.epoch !== epoch) return A.initSyncState();
    try {
      return A.decodeSyncState(stored.bytes);
    } catch {
      return A.initSyncState();
    }
  }

  set(peer: string, docId: DocId, epoch: number, state: A.SyncState): void {
    const docs = this.peers.get(peer) ?? new Map<DocId, Stored>();
    this.peers.delete(peer);
    this.peers.set(peer, docs);
    docs.set(docId, { epoch, bytes: A.encodeSyncState(state) });
    this.changed = true;
    for (const oldest of this.peers.keys()) {
      if (this.peers.size <= this.maxPeers) break;
      this.peers.delete(oldest);
    }
  }

  peerIds(): string[] {
    return [...this.peers.keys()];
  }

  /** True once after any change: lets the storage shell skip writing when nothing happened. */
  takeChanged(): boolean {
    const was = this.changed;
    this.changed = false;
    return was;
  }

  encode(): Uint8Array {
    const writer = new ByteWriter().u8(FORMAT).varint(this.peers.size);
    for (const [peer, docs] of this.peers) {
      writer.string(peer).varint(docs.size);
      for (const [docId, stored] of docs) writer.string(docId).varint(stored.epoch).blob(stored.bytes);
    }
    return writer.finish();
  }

  static decode(bytes: Uint8Array, maxPeers = 16): Result<PeerSyncStates> {
    return decodeAll(bytes, (reader) => {
      if (reader.u8() !== FORMAT) reader.fail('unknown sync state format');
      const states = new PeerSyncStates(maxPeers);
      const peers = reader.varint(100_000);
      for (let p = 0; p < peers; p++) {
        const peer = reader.string(256);
        const docs = new Map<DocId, Stored>();
        const count = reader.varint(10_000_000);
        for (let d = 0; d < count; d++) {
          const docId = reader.string(256);
          if (!isDocId(docId)) return reader.fail(`invalid document id ${docId}`);
          docs.set(docId, { epoch: reader.varint(), bytes: reader.blob(1 << 20).slice() });
        }
        states.peers.set(peer, docs);
      }
      for (const oldest of states.peers.keys()) {
        if (states.peers.size <= maxPeers) break;
        states.peers.delete(oldest);
      }
      return states;
    });
  }
}
