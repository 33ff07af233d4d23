import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerIdFromString } from '@libp2p/peer-id';
import { afterEach, expect, test } from 'vitest';
import { openPeerStream } from '../../../src/lib/p2p/peer-stream.js';
import { revocationGater } from '../../../src/node/membership/revocation-gater.js';
import { knownAddressDial } from '../../../src/node/net/known-address-dial.js';
import { KnownPeers } from '../../../src/node/net/known-peers.js';
import type { MeshHost } from '../../../src/node/net/libp2p-host.js';
import { loopbackHosts } from '../../support/hosts.js';

const RELAYED = '/mycel/test-relayed/1';
const DIRECT_ONLY = '/mycel/test-direct-only/1';
const hosts = loopbackHosts();
afterEach(() => hosts.stopAll());

async function circuitAddress(host: MeshHost, deadlineMs = 10_000): Promise<string> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const relayed = host.getMultiaddrs().find((a) => a.toString().includes('/p2p-circuit'));
    if (relayed) return relayed.toString();
    if (Date.now() > until) throw new Error('no relay reservation');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Real hosts on loopback: a relay (`--relay server`) and two clients holding reservations on it. The device
 * dialled through the relay answers protocols that accept limited connections, and refuses the rest.
 */
test('a peer reached only through a relay answers the protocols allowed on limited connections', async () => {
  const relay = await hosts.host(8, { relay: 'server' });
  const [asker, owner] = [await hosts.host(), await hosts.host()];
  await owner.handle(RELAYED, (stream) => void stream.close(), { runOnLimitedConnection: true });
  await owner.handle(DIRECT_ONLY, (stream) => void stream.close());
  await owner.dial(relay.getMultiaddrs());
  await asker.dial(relay.getMultiaddrs());
  const address = await circuitAddress(owner);
  expect(relay.services.relay?.reservations.size).toBeGreaterThanOrEqual(1);

  // The owner's relayed address as the mesh describes it (liveness, peer exchange); libp2p itself never saw it.
  const known = await KnownPeers.load(join(tmpdir(), `relay-test-${process.pid}-none.json`), () => {});
  known.remember(owner.peerId.toString(), [address.replace(/\/p2p\/[^/]+$/, '')], Date.now());
  const reach = knownAddressDial(asker, known);
  const stream = await openPeerStream(reach, owner.peerId, RELAYED, AbortSignal.timeout(10_000));
  const [connection] = asker.getConnections(owner.peerId);
  expect(connection?.limits).toBeDefined();
  expect(connection?.streams).toContain(stream);
  // The owner negotiates the protocol, then resets the stream: its handler does not run on limited connections.
  const refused = await openPeerStream(reach, owner.peerId, DIRECT_ONLY, AbortSignal.timeout(10_000));
  const until = Date.now() + 5_000;
  while (refused.status === 'open' && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  expect(refused.status).toBe('reset');
});

test('an agent that is no relay refuses reservations', async () => {
  const notRelay = await hosts.host(8, { relay: 'client' });
  const client = await hosts.host();
  await client.dial(notRelay.getMultiaddrs());
  await expect(circuitAddress(client, 3_000)).rejects.toThrow('no relay reservation');
});

test('a relay neither reserves for nor relays to or from a revoked device', () => {
  const revoked = '12D3KooWGzh8cHrWPkQ6mG7d6mu3BgoEUq8wEJUkPTyDSvoLXZTm';
  const member = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK';
  const gater = revocationGater((peer) => peer === revoked);
  const [bad, good] = [peerIdFromString(revoked), peerIdFromString(member)];
  expect(gater.denyInboundRelayReservation?.(bad)).toBe(true);
  expect(gater.denyInboundRelayReservation?.(good)).toBe(false);
  expect(gater.denyOutboundRelayedConnection?.(good, bad)).toBe(true);
  expect(gater.denyOutboundRelayedConnection?.(bad, good)).toBe(true);
  expect(gater.denyOutboundRelayedConnection?.(good, good)).toBe(false);
  expect(gater.denyInboundRelayedConnection?.(good, bad)).toBe(true);
  expect(gater.denyInboundRelayedConnection?.(good, good)).toBe(false);
});
