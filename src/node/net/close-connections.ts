import type { MeshHost } from './libp2p-host.js';

/** Closes every open connection to `peer`, aborting one that cannot close cleanly. */
export function closeConnectionsTo(host: Pick<MeshHost, 'getConnections'>, peer: string): void {
  for (const conn of host.getConnections()) {
    if (conn.remotePeer.toString() === peer)
      void conn.close().catch((err: unknown) => conn.abort(err as Error));
  }
}
