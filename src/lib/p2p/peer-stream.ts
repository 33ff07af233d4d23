import type { Libp2p, PeerId, Stream } from '@libp2p/interface';
import { newestConnection } from './newest-connection.js';
import { openStream } from './open-stream.js';

export type PeerStreamHost = Pick<Libp2p, 'getConnections' | 'dial'>;

/**
 * A stream to `peer` for `protocol` on its newest open connection, dialling one only when none is open.
 * libp2p's `dialProtocol` reuses the first connection it holds to the peer: after the peer restarted or this
 * device's address changed, that is the old one, dead until TCP gives up on it minutes later, while the newest
 * was dialled because the old ones went quiet.
 */
export async function openPeerStream(
  host: PeerStreamHost,
  peer: PeerId,
  protocol: string,
  signal: AbortSignal,
): Promise<Stream> {
  const open = host.getConnections(peer).filter((c) => c.limits === undefined);
  const connection = newestConnection(open, peer.toString()) ?? (await host.dial(peer, { signal }));
  return openStream(connection, protocol, signal);
}
