import type { ConnectionGater, MultiaddrConnection, PeerId, Transport, Upgrader } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { HostOptions } from '../../src/node/net/libp2p-host.js';
import type { FaultNetwork } from './fault-network.js';
import { ShapedConnection } from './shaped-connection.js';

type TransportFactory = NonNullable<HostOptions['transport']>;

/** `/ip4/127.0.0.1/tcp/4001/...` → `127.0.0.1`. */
function ipOf(ma: Multiaddr): string | undefined {
  return /^\/ip4\/([^/]+)\/tcp\//.exec(ma.toString())?.[1];
}

/**
 * The agent's TCP transport with every connection it dials wrapped in a ShapedConnection. Inbound connections
 * pass unwrapped: their dialler shapes them.
 */
export function faultTransport(network: FaultNetwork, self: string): TransportFactory {
  return (components) => {
    const inner = tcp({ maxConnections: 256, dialOpts: { noDelay: true } })(components);
    const dial: Transport['dial'] = (ma, options) => {
      const remote = nodeFor(network, ma);
      if (remote === undefined) return inner.dial(ma, options);
      const upgrader: Upgrader = Object.create(options.upgrader, {
        upgradeOutbound: {
          value: (maConn: MultiaddrConnection, opts: Parameters<Upgrader['upgradeOutbound']>[1]) =>
            options.upgrader.upgradeOutbound(new ShapedConnection(maConn, network, self, remote), opts),
        },
      });
      return inner.dial(ma, { ...options, upgrader });
    };
    return new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'dial') return dial;
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
}

function nodeFor(network: FaultNetwork, ma: Multiaddr): string | undefined {
  const ip = ipOf(ma);
  return ip === undefined ? undefined : network.nodeAt(ip);
}

/**
 * Refuses what the network would not carry: a dial across a down or no-dial link (by address before the
 * handshake, by peer id after it), and an inbound connection the dialler could not have made.
 */
export function faultGater(network: FaultNetwork, self: string): ConnectionGater {
  const refusesPeer = (peer: PeerId) => {
    const remote = network.nodeOf(peer.toString());
    return remote !== undefined && network.refusesDial(self, remote);
  };
  return {
    denyDialMultiaddr: (ma) => {
      const remote = nodeFor(network, ma);
      return remote !== undefined && network.refusesDial(self, remote);
    },
    denyDialPeer: refusesPeer,
    denyOutboundEncryptedConnection: refusesPeer,
    denyInboundEncryptedConnection: (peer) => {
      const remote = network.nodeOf(peer.toString());
      return remote !== undefined && network.refusesDial(remote, self);
    },
  };
}
