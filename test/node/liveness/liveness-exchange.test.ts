import { generateKeyPair } from '@libp2p/crypto/keys';
import { pino } from 'pino';
import * as varint from 'uint8-varint';
import { afterEach, expect, test } from 'vitest';
import { prng } from '../../../sim/scale/prng.js';
import type { DescribedPeer, DigestEntry } from '../../../src/node/liveness/liveness-digest.js';
import {
  LIVENESS_PROTOCOL,
  LIVENESS_PROTOCOL_V2,
  LivenessExchange,
} from '../../../src/node/liveness/liveness-exchange.js';
import { InboundLimits } from '../../../src/node/net/inbound-limits.js';
import { createHost, type MeshHost } from '../../../src/node/net/libp2p-host.js';
import { MeshMetrics } from '../../../src/node/setup/metrics.js';
import { waitFor } from '../../support/agents.js';

/**
 * The exchange between real libp2p hosts over loopback, all connected to all, each asking one relay: what each
 * agent hears, and from whom it takes digests of every peer.
 */
const INTERVAL = 150;
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

/** An agent reduced to its beats: its own counter, and the newest beat heard of each peer. */
class Beats {
  readonly heard = new Map<string, DescribedPeer>();
  beat = 0;
  constructor(readonly self: DescribedPeer) {}

  peers = (): DescribedPeer[] => [{ ...this.self, beat: this.beat++ }, ...this.heard.values()];

  deliver = (_from: string, entries: readonly DigestEntry[]): void => {
    for (const e of entries) {
      if (e.peerId === this.self.peerId) continue;
      const held = this.heard.get(e.peerId);
      if (!held && e.name === undefined) continue;
      if (held && held.beat >= e.beat) continue;
      this.heard.set(e.peerId, { ...(held ?? { name: '', addresses: [] }), ...e } as DescribedPeer);
    }
  };
}

async function agent(
  i: number,
  { idleMs = 10_000 }: { idleMs?: number } = {},
): Promise<{ host: MeshHost; beats: Beats; exchange: LivenessExchange }> {
  const host = await createHost({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    maxConnections: 8,
    pingIntervalMs: 60_000,
  });
  const log = pino({ level: 'silent' });
  const beats = new Beats({
    peerId: host.peerId.toString(),
    incarnation: 1,
    beat: 0,
    name: `a${i}`,
    addresses: [],
  });
  const exchange = new LivenessExchange(
    {
      host,
      log,
      random: prng(i).next,
      now: Date.now,
      limits: new InboundLimits(new MeshMetrics({ processMetrics: false }), log, Date.now),
      peers: beats.peers,
      deliver: beats.deliver,
    },
    { intervalMs: INTERVAL, idleMs, timeoutMs: 2_000, relaysWanted: 1 },
  );
  await exchange.start();
  stops.push(async () => {
    await exchange.stop();
    await host.stop();
  });
  return { host, beats, exchange };
}

test('each agent takes digests of every peer from the relay it asked, own beats from the rest, and hears everyone', async () => {
  const agents = await Promise.all([0, 1, 2, 3].map((i) => agent(i)));
  for (const [i, a] of agents.entries())
    for (const b of agents.slice(i + 1)) await a.host.dial(b.host.getMultiaddrs()[0]!);
  await waitFor(
    'every agent to hear the three others',
    () => agents.every((a) => a.beats.heard.size === 3),
    10_000,
  );

  // Settled: every agent has asked its one relay, and its neighbours have heard the request.
  await new Promise((r) => setTimeout(r, 5 * INTERVAL));
  const before = agents.map((a) => ({ stats: a.exchange.stats(), heard: beatsOf(a.beats) }));
  await new Promise((r) => setTimeout(r, 10 * INTERVAL));
  for (const [i, a] of agents.entries()) {
    const stats = a.exchange.stats();
    expect(stats.relays).toHaveLength(1);
    const digests = stats.received.digests - before[i]!.stats.received.digests;
    const ownBeats = stats.received.ownBeats - before[i]!.stats.received.ownBeats;
    // About ten rounds: digests from the one relay, own beats from the two others.
    expect(digests).toBeGreaterThanOrEqual(6);
    expect(digests).toBeLessThanOrEqual(12);
    expect(ownBeats).toBeGreaterThanOrEqual(12);
    // Every peer's beat kept advancing, whichever way it came.
    for (const [peer, beat] of beatsOf(a.beats))
      expect(beat - before[i]!.heard.get(peer)!).toBeGreaterThan(5);
  }
  // What one side sent is what the others received, in both kinds.
  const total = (pick: (a: (typeof agents)[number]) => number) => agents.reduce((n, a) => n + pick(a), 0);
  expect(total((a) => a.exchange.stats().sent.digests)).toBeLessThan(
    total((a) => a.exchange.stats().sent.ownBeats),
  );
}, 30_000);

function beatsOf(beats: Beats): Map<string, number> {
  return new Map([...beats.heard].map(([peer, p]) => [peer, p.beat]));
}

// A device back from a power loss dials its neighbours anew while they still hold the connection from before its
// crash, open but dead until TCP gives up on it (minutes). Frames sent there vanish: in rolling-reboot a restarted
// node heard none of its old neighbours for a whole lost period and started copies of their work beside them.
test('frames go on the newest connection to a neighbour, and move when a newer one opens', async () => {
  const [a, b] = await Promise.all([0, 1].map((i) => agent(i)));
  const address = b!.host.getMultiaddrs()[0]!;
  const older = await a!.host.dial(address);
  const sendsOn = (conn: typeof older) =>
    conn.status === 'open' &&
    conn.streams.some((s) => s.protocol === LIVENESS_PROTOCOL_V2 && s.direction === 'outbound');
  await waitFor('frames on the first connection', () => sendsOn(older), 5_000);

  const newer = await a!.host.dial(address, { force: true });
  expect(newer).not.toBe(older);
  await waitFor('frames on the newer connection only', () => sendsOn(newer) && !sendsOn(older), 5_000);
  const heard = b!.beats.heard.get(a!.host.peerId.toString())?.beat ?? 0;
  await waitFor(
    'the beats to keep coming',
    () => (b!.beats.heard.get(a!.host.peerId.toString())?.beat ?? 0) > heard + 3,
    5_000,
  );
});

test('a frame trickled a byte at a time is cut off after idleMs, though every byte restarts the idle timer', async () => {
  const { host } = await agent(0, { idleMs: 600 });
  const sender = await createHost({
    privateKey: await generateKeyPair('Ed25519'),
    listen: [],
    maxConnections: 8,
    pingIntervalMs: 60_000,
  });
  stops.push(async () => {
    await sender.stop();
  });
  const stream = await sender.dialProtocol(host.getMultiaddrs(), LIVENESS_PROTOCOL);
  let endedAt: number | undefined;
  stream.addEventListener('close', () => {
    endedAt = Date.now();
  });
  const opened = Date.now();
  stream.send(varint.encode(1_000));
  for (let i = 0; i < 30 && endedAt === undefined; i++) {
    await new Promise((r) => setTimeout(r, 100));
    if (stream.status === 'open') stream.send(new Uint8Array([0x7b]));
  }
  expect(endedAt).toBeDefined();
  expect((endedAt ?? Infinity) - opened).toBeLessThan(1_500);
});

// Descriptions go once per stream; the periodic re-description that healed a lost one cost a 20-agent mesh more
// bytes than the beats. A reader that drops a frame now asks, and is described again within a round or two.
test('a neighbour whose first frame was dropped asks to be told who is who, and hears everyone soon after', async () => {
  const [a, b] = await Promise.all([0, 1].map((i) => agent(i)));
  let drops = 1;
  b!.exchange.dropInbound = () => drops-- > 0;
  await a!.host.dial(b!.host.getMultiaddrs()[0]!);
  await waitFor(
    'each to hear the other',
    () => a!.beats.heard.size === 1 && b!.beats.heard.size === 1,
    8 * INTERVAL,
  );
  expect(drops).toBeLessThan(0);
});

test('binary frames between agents that speak them, JSON to an agent from before them, and both hear each other', async () => {
  const [a, b] = await Promise.all([0, 1].map((i) => agent(i)));
  // b as an older agent answers only the JSON protocol (it still asks for the binary one when it sends).
  await b!.host.unhandle(LIVENESS_PROTOCOL_V2);
  const connection = await a!.host.dial(b!.host.getMultiaddrs()[0]!);
  await waitFor(
    'each to hear the other',
    () => a!.beats.heard.size === 1 && b!.beats.heard.size === 1,
    5_000,
  );
  const outbound = (c: typeof connection) =>
    c.streams
      .filter((s) => s.direction === 'outbound' && s.protocol?.startsWith('/mycel/liveness/'))
      .map((s) => s.protocol);
  expect(outbound(connection)).toEqual([LIVENESS_PROTOCOL]);
  expect(outbound(b!.host.getConnections(a!.host.peerId)[0]!)).toEqual([LIVENESS_PROTOCOL_V2]);
  const heard = b!.beats.heard.get(a!.host.peerId.toString())!.beat;
  await waitFor(
    'the beats to keep coming',
    () => b!.beats.heard.get(a!.host.peerId.toString())!.beat > heard + 3,
    5_000,
  );
});
