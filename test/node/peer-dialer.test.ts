import { generateKeyPair } from '@libp2p/crypto/keys';
import { pino } from 'pino';
import { afterEach, expect, test } from 'vitest';
import { KnownPeers } from '../../src/node/known-peers.js';
import { createHost, type MeshHost } from '../../src/node/libp2p-host.js';
import { PeerDialer, SHORT_LINK_MS } from '../../src/node/peer-dialer.js';
import { tempDir, waitFor } from '../support/agents.js';

/** The dialer between real libp2p hosts over loopback; one of them drops every link it is dialled on. */
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function host(): Promise<MeshHost> {
  const h = await createHost({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    maxConnections: 8,
    pingIntervalMs: 60_000,
  });
  stops.push(async () => {
    await h.stop();
  });
  return h;
}

/** A peer that accepts a link and closes it soon after, as a full agent does with a newcomer it introduced. */
async function droppingPeer(afterMs: number): Promise<{ host: MeshHost; accepted: () => number }> {
  const h = await host();
  let accepted = 0;
  h.addEventListener('connection:open', (evt) => {
    accepted++;
    setTimeout(() => void evt.detail.close(), afterMs);
  });
  return { host: h, accepted: () => accepted };
}

async function dialer(self: MeshHost, targetPeers: number, peers: MeshHost[]): Promise<PeerDialer> {
  const dir = await tempDir();
  const known = await KnownPeers.load(`${dir.path}/peers.json`, () => {});
  for (const p of peers)
    known.remember(
      p.peerId.toString(),
      p.getMultiaddrs().map((a) => a.toString().replace(/\/p2p\/.*$/, '')),
      Date.now(),
    );
  const d = new PeerDialer(
    self,
    known,
    {
      join: [],
      targetPeers,
      tickMs: 50,
      dialTimeoutMs: 5_000,
      backoff: { baseMs: 100, capMs: 60_000 },
      now: Date.now,
      random: Math.random,
    },
    pino({ level: 'silent' }),
  );
  stops.push(async () => {
    d.stop();
    await dir.cleanup();
  });
  d.start();
  return d;
}

const linked = (h: MeshHost, to: MeshHost) => h.getPeers().some((p) => p.equals(to.peerId));

test('a peer that drops the link soon after the dial is not dialled again while another link holds', async () => {
  const self = await host();
  const full = await droppingPeer(200);
  const steady = await host();
  await dialer(self, 2, [full.host, steady]);
  await waitFor('both dialled', () => full.accepted() === 1 && linked(self, steady));
  await waitFor('the dropping peer to let go', () => !linked(self, full.host));
  // The dialer wants two links and the dropping peer is its only candidate; before, it dialled straight back
  // every tick. It waits SHORT_LINK_MS now (30 s; 1.5 s of it is 30 ticks here).
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(full.accepted()).toBe(1);
  expect(SHORT_LINK_MS).toBeGreaterThan(1_500);
});

test('an agent left with no link retries the peer that dropped it on the ordinary backoff', async () => {
  const self = await host();
  const full = await droppingPeer(100);
  await dialer(self, 1, [full.host]);
  // 100 ms links, then backoff 50–100, 100–200, 200–400 ms...: a few links within 3 s, far sooner than 30 s.
  await waitFor('three links to the only peer it knows', () => full.accepted() >= 3, 3_000);
});
