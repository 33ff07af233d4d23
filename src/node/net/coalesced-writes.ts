import { Uint8ArrayList } from 'uint8arraylist';

/** Larger writes go out as they are: the copy would cost more than the segments it saves. */
const MAX_COALESCED_BYTES = 64 * 1024;

interface RawConnection {
  sendData?: (data: Uint8ArrayList) => { sentBytes: number; canSendMore: boolean };
}

/**
 * One socket write per frame the connection sends. Noise hands the transport each message as a length prefix,
 * ciphertext and tag, and @libp2p/tcp writes every piece on its own: with Nagle off (the dialer's `noDelay`) each
 * becomes a TCP segment of its own, with 52 bytes of headers and often an ACK of its own. Idle, where every frame
 * is a small liveness beat, that more than doubled the segments an agent sent (bench:idle-traffic).
 */
export function coalesceWrites(connection: unknown): void {
  const target = connection as RawConnection;
  const sendData = target.sendData;
  if (typeof sendData !== 'function') return;
  target.sendData = (data) => {
    // Duck-typed: libp2p's modules may each bring their own copy of uint8arraylist.
    const pieces = (data as unknown as { bufs?: unknown }).bufs;
    if (!Array.isArray(pieces) || pieces.length < 2 || data.byteLength > MAX_COALESCED_BYTES)
      return sendData.call(target, data);
    return sendData.call(target, new Uint8ArrayList(data.subarray()));
  };
}
