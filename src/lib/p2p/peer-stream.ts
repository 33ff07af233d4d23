import type { Libp2p, PeerId, Stream } from '@libp2p/interface';
import { isDirect, newestConnection } from './newest-connection.js';
import { openStream } from './open-stream.js';

export type PeerStreamHost = Pick<Libp2p, 'getConnections' | 'dial'>;

/**
 * A stream to `peer` for `protocol` on its newest open direct connection; else on a relayed one (a device behind
 * NAT that no one can dial); else on a connection dialled now, which libp2p makes direct when it can and through
 * one of the peer's relays when it cannot. libp2p's `dialProtocol` reuses the first connection it holds to the
 * peer: after the peer restarted or this device's address changed, that is the old one, dead until TCP gives up
 * on it minutes later, while the newest was dialled because the old ones went quiet.
 *
 * A relayed connection is limited (bytes and time, net/relay-options.ts): only protocols whose handlers accept
 * limited connections answer on one, and a stream on one ends when the relay's limit is reached.
 */
export async function openPeerStream(
  host: PeerStreamHost,
  peer: PeerId,
  protocol: string,
  signal: AbortSignal,
): Promise<Stream> {
  const open = host.getConnections(peer);
  const connection =
    newestConnection(open.filter(isDirect), peer.toString()) ??
    newestConnection(open, peer.toString()) ??
    (await host.dial(peer, { signal }));
  return openStream(connection, protocol, signal, { runOnLimitedConnection: !isDirect(connection) });
}
