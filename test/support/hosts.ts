import { generateKeyPair } from '@libp2p/crypto/keys';
import { createHost, type HostOptions, type MeshHost } from '../../src/node/net/libp2p-host.js';

/**
 * Real libp2p hosts on loopback for protocol tests, and what the test registers to undo: `stopAll` (in
 * afterEach) runs it newest first, so what was built on a host stops before the host.
 */
export function loopbackHosts() {
  const stops: (() => Promise<void>)[] = [];
  return {
    onStop(stop: () => Promise<void> | void): void {
      stops.push(async () => {
        await stop();
      });
    },
    async host(maxConnections = 8, options: Partial<HostOptions> = {}): Promise<MeshHost> {
      const h = await createHost({
        privateKey: await generateKeyPair('Ed25519'),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        maxConnections,
        pingIntervalMs: 60_000,
        ...options,
      });
      stops.push(async () => {
        await h.stop();
      });
      return h;
    },
    async stopAll(): Promise<void> {
      for (const stop of stops.splice(0).reverse()) await stop();
    },
  };
}
