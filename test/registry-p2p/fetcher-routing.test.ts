import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { shuffle } from '../../src/lib/shuffle.js';
import { BlobFetcher, NoSource } from '../../src/registry-p2p/blob-fetcher.js';
import { ContentStore } from '../../src/registry-p2p/content-store.js';
import { type Digest, sha256Digest } from '../../src/registry-p2p/digest.js';
import { type BlobStream, PeerClient } from '../../src/registry-p2p/peer-client.js';
import { PeerScores } from '../../src/registry-p2p/peer-scores.js';
import { MemoryRouter } from '../../src/registry-p2p/router.js';
import { UpstreamClient } from '../../src/registry-p2p/upstream-client.js';

const log = pino({ level: 'silent' });
/** Nothing listens on port 1: upstream refuses at once. */
const CTX = { registry: '127.0.0.1:1', repository: 'none/here', delegate: false } as const;

/** A seeded generator in [0, 1) (mulberry32), so a run's order is the same every time. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Peers reached only through the router: each blob request is recorded; `serves` holds what a peer has. */
class FakePeers extends PeerClient {
  readonly asked: string[] = [];
  readonly serves = new Map<string, Uint8Array>();

  constructor() {
    super(() => [], { requestTimeoutMs: 1_000, stallMs: 1_000 });
  }

  override async blob(peer: string, _digest: Digest, start: number): Promise<BlobStream> {
    this.asked.push(peer);
    const bytes = this.serves.get(peer);
    if (!bytes) throw new Error(`${peer} is gone`);
    return {
      size: bytes.length,
      mediaType: null,
      chunks: (async function* () {
        yield bytes.subarray(start);
      })(),
    };
  }
}

let root: string;
let store: ContentStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'mycel-fetcher-'));
  store = await ContentStore.open({
    root,
    capBytes: 64 * 1024 * 1024,
    reserveBytes: 0,
    pinned: () => new Set(),
    log,
  });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function fetcher(opts: {
  router: MemoryRouter;
  peers: FakePeers;
  random?: () => number;
  now?: () => number;
}) {
  return new BlobFetcher({
    store,
    peers: opts.peers,
    router: opts.router,
    upstream: new UpstreamClient({ insecure: [], credentials: {}, timeoutMs: 1_000 }),
    scores: new PeerScores(opts.now ?? (() => 0)),
    log,
    opts: {
      self: 'me',
      haveTimeoutMs: 500,
      upstreamStallMs: 1_000,
      maxRounds: 1,
      maxBlobBytes: 1 << 20,
      ...(opts.random ? { random: opts.random } : {}),
    },
  });
}

const HOLDERS = ['peer-a', 'peer-b', 'peer-c', 'peer-d', 'peer-e'];
const MISSING = `sha256:${createHash('sha256').update('nobody has this').digest('hex')}` as Digest;

/** The peers a failed fetch tried, in order, with a router that says every holder has the blob. */
async function triedOrder(random: () => number): Promise<string[]> {
  const router = new MemoryRouter('me');
  for (const peer of HOLDERS) router.set(peer, MISSING, 'complete');
  const peers = new FakePeers();
  await expect(fetcher({ router, peers, random }).fetch(MISSING, CTX)).rejects.toBeInstanceOf(NoSource);
  return peers.asked;
}

describe('the blob fetcher with a router in memory', () => {
  it('tries holders in the order the given random makes, the same for the same seed', async () => {
    const first = await triedOrder(seeded(7));
    expect(first).toEqual(shuffle([...HOLDERS], seeded(7)));
    expect(await triedOrder(seeded(7))).toEqual(first);
    const orders = new Set<string>();
    for (let seed = 1; seed <= 8; seed++) orders.add((await triedOrder(seeded(seed))).join());
    expect(orders.size).toBeGreaterThan(1);
  });

  it('never asks itself, and follows a fixed random exactly', async () => {
    const router = new MemoryRouter('me');
    router.set('me', MISSING, 'complete');
    router.set('peer-a', MISSING, 'complete');
    router.set('peer-b', MISSING, 'complete');
    const peers = new FakePeers();
    await expect(fetcher({ router, peers, random: () => 0 }).fetch(MISSING, CTX)).rejects.toBeInstanceOf(
      NoSource,
    );
    // random() = 0 swaps the last with the first: [peer-a, peer-b] becomes [peer-b, peer-a].
    expect(peers.asked).toEqual(['peer-b', 'peer-a']);
  });

  it('skips peers it penalised until the given clock passes their cool-down', async () => {
    let now = 1_000_000;
    const router = new MemoryRouter('me');
    router.set('peer-a', MISSING, 'complete');
    const peers = new FakePeers();
    const f = fetcher({ router, peers, now: () => now });
    await expect(f.fetch(MISSING, CTX)).rejects.toBeInstanceOf(NoSource);
    expect(peers.asked).toEqual(['peer-a']);
    // A failed source cools down for 10 s of the fetcher's clock, not of the wall clock.
    await expect(f.fetch(MISSING, CTX)).rejects.toThrow(/upstream/);
    expect(peers.asked).toEqual(['peer-a']);
    now += 10_000;
    await expect(f.fetch(MISSING, CTX)).rejects.toBeInstanceOf(NoSource);
    expect(peers.asked).toEqual(['peer-a', 'peer-a']);
  });

  it('fetches from a holder the router names, verifies it, and advertises it to routers sharing the table', async () => {
    const bytes = randomBytes(64 * 1024);
    const digest = sha256Digest(bytes);
    const table = new Map();
    const router = new MemoryRouter('me', table);
    const neighbour = new MemoryRouter('neighbour', table);
    router.set('peer-a', digest, 'complete');
    const peers = new FakePeers();
    peers.serves.set('peer-a', bytes);
    await fetcher({ router, peers }).fetch(digest, { ...CTX, size: bytes.length });
    expect(store.has(digest)).toBe(true);
    await expect
      .poll(async () =>
        (await neighbour.lookup(digest, { signal: AbortSignal.timeout(1_000) })).map((h) => h.peer),
      )
      .toEqual(['peer-a', 'me']);
  });
});
