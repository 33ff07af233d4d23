import { pino } from 'pino';
import { afterEach, expect, test } from 'vitest';
import { KnownPeers } from '../../../src/node/net/known-peers.js';
import type { MeshHost } from '../../../src/node/net/libp2p-host.js';
import { PeerDialer, SHORT_LINK_MS } from '../../../src/node/net/peer-dialer.js';
import { tempDir, waitFor } from '../../support/agents.js';
import { loopbackHosts } from '../../support/hosts.js';

/** The dialer between real libp2p hosts over loopback; one of them drops every link it is dialled on. */
const hosts = loopbackHosts();
afterEach(hosts.stopAll);
const host = () => hosts.host();

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

async function dialer(
  self: MeshHost,
  targetPeers: number,
  peers: MeshHost[],
  backoff = { baseMs: 100, capMs: 60_000 },
  freshConnection?: (peer: string) => void,
): Promise<PeerDialer> {
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
      backoff,
      ...(freshConnection ? { freshConnection } : {}),
      now: Date.now,
      random: Math.random,
    },
    pino({ level: 'silent' }),
  );
  hosts.onStop(async () => {
    d.stop();
    await dir.cleanup();
  });
  d.start();
  return d;
}

const linked = (h: MeshHost, to: MeshHost) => h.getPeers().some((p) => p.equals(to.peerId));

test('a peer that drops every link soon after the dial is retried on a growing backoff, not every tick', async () => {
  const self = await host();
  const full = await droppingPeer(100);
  const steady = await host();
  await dialer(self, 2, [full.host, steady]);
  await waitFor('the steady peer linked', () => linked(self, steady));
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  // Links of 100 ms, then backoff 50–100, 100–200, 200–400, 400–800 ms...: four to six links in 2.5 s. Dialled
  // straight back on the next 50 ms tick, as before, it was about sixteen; never retried, one.
  expect(full.accepted()).toBeGreaterThanOrEqual(3);
  expect(full.accepted()).toBeLessThanOrEqual(7);
  expect(SHORT_LINK_MS).toBeGreaterThan(2_500);
});

test('a peer heard on none of its connections gets a fresh one beside them, then no more while it is heard', async () => {
  const self = await host();
  const peer = await host();
  // A backoff far longer than a dial on a loaded machine: the refusal below must come from the backoff alone.
  const fresh: string[] = [];
  const d = await dialer(self, 1, [peer], { baseMs: 20_000, capMs: 60_000 }, (p) => fresh.push(p));
  await waitFor('linked', () => linked(self, peer));
  const first = self.getConnections(peer.peerId);
  expect(first).toHaveLength(1);

  // The link went silent (our address changed under it, say): a fresh connection opens, the old one stays.
  d.redialSilent([peer.peerId.toString()]);
  await waitFor('a second connection', () => self.getConnections(peer.peerId).length === 2);
  expect(self.getConnections(peer.peerId).map((c) => c.id)).toContain(first[0]!.id);
  // State sync is told, so it asks over the fresh connection at once.
  await waitFor('the fresh connection announced', () => fresh.length === 1);
  expect(fresh).toEqual([peer.peerId.toString()]);

  // Asked again at once, it waits out its backoff rather than dialling every round.
  d.redialSilent([peer.peerId.toString()]);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(self.getConnections(peer.peerId)).toHaveLength(2);

  // Heard again, its backoff is forgotten: the next silence dials at once.
  d.redialSilent([]);
  d.redialSilent([peer.peerId.toString()]);
  await waitFor('a third connection', () => self.getConnections(peer.peerId).length === 3);
});
