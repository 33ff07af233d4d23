import type { Connection } from '@libp2p/interface';

/**
 * The open connection to use for each peer: the newest. A device that lost power and came back dials its peers
 * anew, while they still hold the old connection open until TCP gives up on it, minutes later; what they write
 * there vanishes. Several connections to one peer otherwise come from simultaneous dials, all of them good.
 */
export function newestConnections(connections: readonly Connection[]): Map<string, Connection> {
  const newest = new Map<string, Connection>();
  for (const c of connections) {
    if (c.status !== 'open') continue;
    const peer = c.remotePeer.toString();
    const held = newest.get(peer);
    if (!held || c.timeline.open > held.timeline.open) newest.set(peer, c);
  }
  return newest;
}

export function newestConnection(connections: readonly Connection[], peer: string): Connection | undefined {
  return newestConnections(connections.filter((c) => c.remotePeer.toString() === peer)).get(peer);
}

/**
 * A direct connection, not one through a circuit relay: relayed connections carry the relay's byte and time
 * limits, so gossip, liveness, state sync and image layers stay off them.
 */
export function isDirect(connection: Connection): boolean {
  return connection.limits === undefined;
}
