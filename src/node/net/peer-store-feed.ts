import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import type { KnownPeer, KnownPeers } from './known-peers.js';
import type { MeshHost } from './libp2p-host.js';

/**
 * Gives libp2p's peer store the addresses this agent learned of every known peer (liveness descriptions, peer
 * exchange, the known-peers file), relayed `/p2p-circuit` ones included. A stream to a peer this agent has no
 * connection to (alloc logs of a device at another site) dials it by peer id: libp2p then tries its direct
 * addresses first and its relays last, which is how a device behind NAT is reached at all. Without this, libp2p
 * knows only the addresses of peers it identified itself.
 */
export function feedPeerStore(host: Pick<MeshHost, 'peerStore' | 'peerId'>, known: KnownPeers): void {
  const self = host.peerId.toString();
  const feed = (peer: KnownPeer) => {
    if (peer.peerId === self) return;
    try {
      const multiaddrs = peer.addresses.map((a) => multiaddr(a));
      void host.peerStore.patch(peerIdFromString(peer.peerId), { multiaddrs }).catch(() => {});
    } catch {
      // A peer's bad address (hostile or garbled): it is dialled through its other sources or not at all.
    }
  };
  known.onLearned = feed;
  for (const peer of known.list()) feed(peer);
}
