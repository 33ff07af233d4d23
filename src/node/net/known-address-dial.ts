import { isPeerId, type PeerId } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import type { KnownPeers } from './known-peers.js';
import type { MeshHost } from './libp2p-host.js';
import { withPeerId } from './peer-dialer.js';

export type StreamHost = Pick<MeshHost, 'handle' | 'unhandle' | 'getConnections' | 'dial'>;

/**
 * The host for protocols that open a stream to one particular peer (alloc logs, alloc events): a dial by peer id
 * uses the addresses this agent learned of the peer (liveness descriptions, peer exchange, the known-peers file),
 * relayed `/p2p-circuit` ones included, which libp2p tries after the direct ones. libp2p itself knows only the
 * addresses of peers it identified, so a device at another site, behind NAT, would be undialable. The addresses
 * are handed to the one dial, not stored in libp2p's peer store: a peer new to the store is "discovered", and
 * the relay transport dials every discovered peer while it looks for relays.
 */
export function knownAddressDial(host: MeshHost, known: KnownPeers): StreamHost {
  return {
    handle: (...args) => host.handle(...args),
    unhandle: (...args) => host.unhandle(...args),
    getConnections: (peer) => host.getConnections(peer),
    dial: (target, options) => {
      const addresses = isPeerId(target) ? known.get(target.toString())?.addresses : undefined;
      if (!addresses?.length || host.getConnections(target as PeerId).length > 0)
        return host.dial(target, options);
      const dialable = addresses.flatMap((a) => {
        try {
          return [multiaddr(withPeerId(a, target.toString()))];
        } catch {
          // A garbled address a peer described: the others may still work.
          return [];
        }
      });
      return host.dial(dialable.length > 0 ? dialable : target, options);
    },
  };
}
