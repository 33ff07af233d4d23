import { pino } from 'pino';
import { afterEach, expect, test } from 'vitest';
import { InboundLimits } from '../../../src/node/net/inbound-limits.js';
import { Introductions } from '../../../src/node/net/introductions.js';
import { KnownPeers } from '../../../src/node/net/known-peers.js';
import type { MeshHost } from '../../../src/node/net/libp2p-host.js';
import { PeerExchange } from '../../../src/node/net/peer-exchange.js';
import { MeshMetrics } from '../../../src/node/setup/metrics.js';
import { tempDir, waitFor } from '../../support/agents.js';
import { loopbackHosts } from '../../support/hosts.js';

/** A hub at its limit of one link, with real libp2p hosts over loopback dialling it. */
const log = pino({ level: 'silent' });
const hosts = loopbackHosts();
afterEach(hosts.stopAll);
const host = (maxConnections?: number) => hosts.host(maxConnections);

async function peerExchange(
  h: MeshHost,
  served?: (peer: string) => void,
): Promise<{ exchange: PeerExchange; known: KnownPeers }> {
  const dir = await tempDir();
  hosts.onStop(dir.cleanup);
  const known = await KnownPeers.load(`${dir.path}/peers.json`, () => {});
  const limits = new InboundLimits(new MeshMetrics({ processMetrics: false }), log, Date.now);
  const exchange = new PeerExchange(
    h,
    known,
    { random: Math.random, now: Date.now, timeoutMs: 5_000, limits, ...(served ? { served } : {}) },
    log,
  );
  await exchange.start();
  return { exchange, known };
}

async function hub(graceMs: number) {
  const h = await host(1);
  let introduced = 0;
  const introductions = new Introductions(
    h,
    { maxConnections: 1, graceMs, lingerMs: 200, introduced: () => introduced++ },
    log,
  );
  introductions.start();
  hosts.onStop(() => introductions.stop());
  const { known } = await peerExchange(h, (peer) => introductions.served(peer));
  const member = await host();
  // The hub's address book: the one member it can introduce.
  known.remember(member.peerId.toString(), ['/ip4/127.0.0.1/tcp/1'], Date.now());
  await join(member, h);
  return { host: h, member, introduced: () => introduced };
}

const linked = (a: MeshHost, b: MeshHost) => a.getPeers().some((p) => p.equals(b.peerId));
/** The dialler's side of a link opens before the listener's. */
async function join(newcomer: MeshHost, full: MeshHost): Promise<void> {
  await newcomer.dial(full.getMultiaddrs());
  await waitFor('the full agent to hold the link', () => linked(full, newcomer), 5_000);
}

test('a newcomer that asks for peers gets them, and the full agent lets it go then, not after the grace period', async () => {
  const full = await hub(60_000);
  const newcomer = await host();
  await join(newcomer, full.host);
  const { exchange } = await peerExchange(newcomer);
  expect(await exchange.request(full.host.peerId)).toBe(1);
  await waitFor('the full agent to let the newcomer go', () => !linked(full.host, newcomer), 5_000);
  expect(full.introduced()).toBe(1);
  expect(linked(full.host, full.member)).toBe(true);
});

test('a newcomer that never asks goes after the grace period, unless the agent has room by then', async () => {
  const full = await hub(1_000);
  const silent = await host();
  await join(silent, full.host);
  await waitFor('the grace period to end', () => !linked(full.host, silent), 5_000);
  expect(full.introduced()).toBe(1);

  const kept = await host();
  await join(kept, full.host);
  // The member leaves before the grace period ends: the newcomer's link is an ordinary one now.
  await full.member.hangUp(full.host.peerId);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(linked(full.host, kept)).toBe(true);
  expect(full.introduced()).toBe(1);
});
