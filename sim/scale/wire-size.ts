import { RPC } from '@libp2p/gossipsub/message';
import { STATE_TOPIC } from '../../src/crdt/gossip-codec.js';
import { encodeSyncFrame, SHORT_DIGEST } from '../../src/crdt/sync-codec.js';

/**
 * Bytes on the wire, from the real encoders: gossipsub's own protobuf RPC codec for publish and control messages,
 * and the project's sync codec for anti-entropy frames. Below the application frame only a fixed per-frame cost
 * is added (yamux header 12 B, noise length 2 B and tag 16 B, the length prefix); TCP/IP headers and ACKs are
 * not counted, the same as libp2p's own bandwidth metrics.
 */
/** Yamux data-frame header + noise length prefix + noise AEAD tag. */
export const FRAME_OVERHEAD = 12 + 2 + 16;

/** Opening a sync stream: yamux SYN and window update, multistream-select's header and protocol, each way. */
export const STREAM_OPEN_BYTES = 2 * 12 + varintLength(19) + 19 + varintLength(25) + 25; // '/multistream/1.0.0\n', '/mycel/state-sync/1.0.0\n'

/** Ed25519 peer ids: the identity multihash of the protobuf public key (38 B). */
const PEER_ID_BYTES = 38;
/** Gossipsub's StrictSign msgId: the protobuf public key (36 B) + the 8-byte sequence number. */
export const MSG_ID_BYTES = 36 + 8;
const SIGNATURE_BYTES = 64;
const SEQNO_BYTES = 8;

function varintLength(n: number): number {
  let length = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 128)) length++;
  return length;
}

const withPrefix = (bytes: number): number => varintLength(bytes) + bytes + FRAME_OVERHEAD;
const fakeId = (): Uint8Array => new Uint8Array(MSG_ID_BYTES);
const emptyControl = { graft: [], prune: [], ihave: [], iwant: [], idontwant: [] };

/** One signed message carrying `dataBytes` of payload, as one RPC. */
export function publishBytes(dataBytes: number): number {
  const rpc = RPC.encode({
    subscriptions: [],
    messages: [
      {
        from: new Uint8Array(PEER_ID_BYTES),
        data: new Uint8Array(dataBytes),
        seqno: new Uint8Array(SEQNO_BYTES),
        topic: STATE_TOPIC,
        signature: new Uint8Array(SIGNATURE_BYTES),
      },
    ],
  });
  return withPrefix(rpc.length);
}

type ControlKind = 'ihave' | 'iwant' | 'idontwant';

/** One control RPC naming `ids` message ids. */
export function controlBytes(kind: ControlKind, ids: number): number {
  const messageIDs = Array.from({ length: ids }, fakeId);
  const control =
    kind === 'ihave'
      ? { ...emptyControl, ihave: [{ topicID: STATE_TOPIC, messageIDs }] }
      : { ...emptyControl, [kind]: [{ messageIDs }] };
  return withPrefix(RPC.encode({ subscriptions: [], messages: [], control }).length);
}

/** A sync frame as the stream carries it (length-prefixed, framed). */
export function syncFrameBytes(frameBytes: number): number {
  return withPrefix(frameBytes);
}

/**
 * What one summary entry costs in a sync round (8-byte id hash, epoch varint, 8-byte heads digest), measured by
 * encoding a real summary: used for the node documents this model keeps out of the replicas (see README.md).
 */
export function summaryEntryBytes(epoch = 0): number {
  const entry = { idHash: new Uint8Array(SHORT_DIGEST), epoch, headsDigest: new Uint8Array(SHORT_DIGEST) };
  const frame = (n: number) =>
    encodeSyncFrame({
      kind: 'round',
      summary: Array.from({ length: n }, () => entry),
      snapshots: [],
      syncs: [],
      wants: [],
    }).length;
  return (frame(1000) - frame(0)) / 1000;
}
