import type { ConnectionGater, PeerId } from '@libp2p/interface';

/**
 * How long a member keeps its open connections to a device it has just revoked: gossip crosses a slow link in
 * well under this, so the device hears of its revocation (and fences itself) before it is cut off.
 */
export const REVOCATION_NOTICE_MS = 1_000;

/**
 * The connection gater every agent runs: a revoked device is refused at every step (dial, inbound and outbound
 * handshakes, relay reservations and circuits), on top of whatever gater the environment brings (the simulator's partitions).
 */
export function revocationGater(
  isRevoked: (peer: string) => boolean,
  inner: ConnectionGater = {},
): ConnectionGater {
  const revoked = (peer: PeerId) => isRevoked(peer.toString());
  return {
    // libp2p's default refuses private and loopback addresses; a LAN fleet lives on them.
    denyDialMultiaddr: (ma) => inner.denyDialMultiaddr?.(ma) ?? false,
    denyDialPeer: (peer) => revoked(peer) || (inner.denyDialPeer?.(peer) ?? false),
    denyInboundConnection: (conn) => inner.denyInboundConnection?.(conn) ?? false,
    denyOutboundConnection: (peer, conn) =>
      revoked(peer) || (inner.denyOutboundConnection?.(peer, conn) ?? false),
    denyInboundEncryptedConnection: (peer, conn) =>
      revoked(peer) || (inner.denyInboundEncryptedConnection?.(peer, conn) ?? false),
    denyOutboundEncryptedConnection: (peer, conn) =>
      revoked(peer) || (inner.denyOutboundEncryptedConnection?.(peer, conn) ?? false),
    denyInboundUpgradedConnection: (peer, conn) =>
      revoked(peer) || (inner.denyInboundUpgradedConnection?.(peer, conn) ?? false),
    denyOutboundUpgradedConnection: (peer, conn) =>
      revoked(peer) || (inner.denyOutboundUpgradedConnection?.(peer, conn) ?? false),
    // As a relay: no reservation for a revoked device, and no circuit to or from one. The ends' own handshakes
    // (above) refuse it too; these keep a revoked device from using a relay's bandwidth at all.
    denyInboundRelayReservation: (source) =>
      revoked(source) || (inner.denyInboundRelayReservation?.(source) ?? false),
    denyOutboundRelayedConnection: (source, destination) =>
      revoked(source) ||
      revoked(destination) ||
      (inner.denyOutboundRelayedConnection?.(source, destination) ?? false),
    denyInboundRelayedConnection: (relay, remote) =>
      revoked(relay) || revoked(remote) || (inner.denyInboundRelayedConnection?.(relay, remote) ?? false),
  };
}
