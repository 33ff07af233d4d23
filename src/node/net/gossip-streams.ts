import type { Connection, Libp2p, PeerId } from '@libp2p/interface';
import { isDirect, newestConnection } from '../../lib/p2p/newest-connection.js';

/** What gossipsub does when the registrar reports a peer on a connection; private in its types. */
interface PeerConnectedHook {
  onPeerConnected(peerId: PeerId, connection: Connection): void;
}

/** Long enough for gossipsub to drop the stream of the connection that closed before it is asked for another. */
const SETTLE_MS = 50;

/**
 * Keeps gossip flowing to a peer whose connection died while a newer one to it lives (its address changed, or
 * peer-links.ts closed a stalled link). Gossipsub holds one outbound stream per peer, opened on the connection it
 * first met the peer on, and is told of a connection only when the peer is identified on it: a second connection
 * finds the stream there and opens none. When the first connection then closes, its stream goes with it (and a
 * read error on it removes the peer altogether), and nothing opens one on the survivor: gossip with that peer
 * stops until every connection has closed once, and only anti-entropy carries state meanwhile (a duplicate copy
 * started across an address change lived 30 s in CI). On every closed connection with a live sibling, this hands
 * the newest sibling to gossipsub as a fresh one: it re-adds the peer if it was removed and opens a stream there
 * if it has none. Relayed (limited) connections are left alone: gossip does not run on them.
 */
export function keepGossipStreams(host: Libp2p, pubsub: unknown): void {
  const hook = pubsub as PeerConnectedHook;
  host.addEventListener('connection:close', (evt) => {
    const peer = evt.detail.remotePeer;
    // After the host stops it holds no connection: the check finds none and does nothing.
    setTimeout(() => {
      const live = host.getConnections(peer).filter(isDirect);
      const newest = newestConnection(live, peer.toString());
      if (newest) hook.onPeerConnected(peer, newest);
    }, SETTLE_MS).unref();
  });
}
