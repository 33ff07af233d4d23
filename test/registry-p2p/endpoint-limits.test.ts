import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RateLimit } from '../../src/lib/rate-limiter.js';
import { BlobFetcher } from '../../src/registry-p2p/blob-fetcher.js';
import { ContentStore } from '../../src/registry-p2p/content-store.js';
import { sha256Digest } from '../../src/registry-p2p/digest.js';
import { ImagePuller } from '../../src/registry-p2p/image-puller.js';
import { encodeRegistry } from '../../src/registry-p2p/image-ref.js';
import { LocalEndpoint } from '../../src/registry-p2p/local-endpoint.js';
import { PeerClient } from '../../src/registry-p2p/peer-client.js';
import { PeerScores } from '../../src/registry-p2p/peer-scores.js';
import { UpstreamClient } from '../../src/registry-p2p/upstream-client.js';
import { freeBytes, mountSmallDisk, type SmallDisk, writeStateFile } from '../support/tmpfs.js';
import { type HostileUpstream, startHostileUpstream, trickle } from './hostile-upstream.js';

const log = pino({ level: 'silent' });
const MiB = 1024 * 1024;
const RESERVE = 1.5 * MiB;
const BLOB = 512 * 1024;
const UNLIMITED: RateLimit = { perSecond: 1000, burst: 1000 };

/** An upstream holding one image of `count` random 512 KiB layers, every digest valid. */
function serveImage(up: HostileUpstream, count: number) {
  const layers = Array.from({ length: count }, () => randomBytes(BLOB));
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}');
  const descriptor = (b: Uint8Array, mediaType: string) => ({
    mediaType,
    size: b.length,
    digest: sha256Digest(b),
  });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: descriptor(config, 'application/vnd.oci.image.config.v1+json'),
      layers: layers.map((l) => descriptor(l, 'application/vnd.oci.image.layer.v1.tar+gzip')),
    }),
  );
  const blobs = new Map<string, Buffer>([config, ...layers].map((b) => [sha256Digest(b), b]));
  up.handler = (req, res) => {
    const url = req.url ?? '';
    if (url.endsWith('/manifests/latest')) {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      return void res.end(manifest);
    }
    const blob = blobs.get(url.split('/blobs/')[1] ?? '');
    if (!blob) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': blob.length });
    res.end(blob);
  };
  return { layers: layers.map((l) => sha256Digest(l)), config: sha256Digest(config) };
}

interface Endpoint {
  readonly store: ContentStore;
  get(path: string): Promise<{ status: number; text: string }>;
  close(): Promise<void>;
}

/** The endpoint with real store, fetcher, puller and upstream client, and no peers. */
async function startEndpoint(
  root: string,
  up: HostileUpstream,
  opts: { pinned?: () => ReadonlySet<string>; fetchLimit?: RateLimit; maxFetches?: number } = {},
): Promise<Endpoint> {
  const store = await ContentStore.open({
    root,
    capBytes: 4 * 1024 * MiB,
    reserveBytes: RESERVE,
    pinned: opts.pinned ?? (() => new Set()),
    log,
  });
  const peers = new PeerClient(() => [], { requestTimeoutMs: 1_000, stallMs: 1_000 });
  const upstream = new UpstreamClient({ insecure: [], credentials: {}, timeoutMs: 2_000 });
  const scores = new PeerScores(Date.now);
  const fetcher = new BlobFetcher({
    store,
    peers,
    upstream,
    scores,
    log,
    opts: { self: 'me', haveTimeoutMs: 500, upstreamStallMs: 2_000, maxRounds: 1, maxBlobBytes: 1 << 30 },
  });
  const puller = new ImagePuller({
    store,
    fetcher,
    peers,
    upstream,
    scores,
    log,
    opts: { peerTimeoutMs: 500, parallelBlobs: 1 },
  });
  const endpoint = new LocalEndpoint({
    store,
    fetcher,
    puller,
    log,
    fetchLimit: opts.fetchLimit ?? UNLIMITED,
    maxFetches: opts.maxFetches ?? 64,
  });
  const address = await endpoint.listen('127.0.0.1', 0);
  const [host, port] = address.split(':');
  return {
    store,
    // node:http sends the path as written: a hostile client need not normalise `%2e%2e` as fetch() does.
    get: (path) =>
      new Promise((resolve, reject) => {
        const req = request({ host, port, path: `/v2/${encodeRegistry(up.host)}/${path}` }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }),
          );
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      }),
    close: () => endpoint.close(),
  };
}

let up: HostileUpstream;
let disk: SmallDisk;

beforeAll(async () => {
  up = await startHostileUpstream();
  disk = await mountSmallDisk('4m');
});

afterEach(async () => {
  await disk.clear();
});

afterAll(async () => {
  await up?.stop();
  await disk?.unmount();
});

describe('the registry endpoint on a small data dir', () => {
  it('keeps free space for state however many valid blobs it is asked for', async () => {
    const image = serveImage(up, 12);
    const ep = await startEndpoint(join(disk.path, 'registry'), up);
    try {
      expect((await ep.get('evil/fill/manifests/latest')).status).toBe(200);
      const statuses: number[] = [];
      let leastFree = Number.POSITIVE_INFINITY;
      for (const digest of [image.config, ...image.layers]) {
        statuses.push((await ep.get(`evil/fill/blobs/${digest}`)).status);
        leastFree = Math.min(leastFree, await freeBytes(disk.path));
      }
      await writeStateFile(disk.path, MiB);
      expect(leastFree).toBeGreaterThanOrEqual(RESERVE - 256 * 1024);
      // Older blobs made way for newer ones: every one was served, the last one asked for is held.
      expect(statuses.every((s) => s === 200)).toBe(true);
      expect(ep.store.has(image.layers.at(-1)!)).toBe(true);
      expect(ep.store.has(image.layers[0]!)).toBe(false);
    } finally {
      await ep.close();
    }
  });

  it('refuses a blob it cannot fit beside pinned ones, with an error that says why', async () => {
    const image = serveImage(up, 12);
    const ep = await startEndpoint(join(disk.path, 'registry'), up, {
      pinned: () => new Set([image.config, ...image.layers]),
    });
    try {
      expect((await ep.get('evil/fill/manifests/latest')).status).toBe(200);
      const answers = [];
      for (const digest of image.layers) answers.push(await ep.get(`evil/fill/blobs/${digest}`));
      await writeStateFile(disk.path, MiB);
      const refused = answers.filter((a) => a.status === 507);
      expect(refused.length).toBeGreaterThan(0);
      expect(refused[0]!.text).toMatch(
        /no room for blob sha256:[0-9a-f]{64} of 0\.5 MiB: the registry store keeps 1\.5 MiB free on .* for the agent's state/,
      );
    } finally {
      await ep.close();
    }
  });
});

describe('requests to the registry endpoint that would make it fetch', () => {
  it('are rate limited per client, while held content is still served', async () => {
    const image = serveImage(up, 4);
    const dir = join(disk.path, 'limited');
    await mkdir(dir);
    const ep = await startEndpoint(dir, up, { fetchLimit: { perSecond: 0.001, burst: 3 } });
    try {
      expect((await ep.get('evil/fill/manifests/latest')).status).toBe(200);
      expect((await ep.get(`evil/fill/blobs/${image.layers[0]}`)).status).toBe(200);
      expect((await ep.get(`evil/fill/blobs/${image.layers[1]}`)).status).toBe(200);
      const throttled = await ep.get(`evil/fill/blobs/${image.layers[2]}`);
      expect(throttled.status).toBe(429);
      expect(throttled.text).toMatch(/TOOMANYREQUESTS.*retry later/);
      expect((await ep.get(`evil/fill/blobs/${image.layers[0]}`)).status).toBe(200);
      expect(ep.store.has(image.layers[2]!)).toBe(false);
    } finally {
      await ep.close();
    }
  });

  it('are refused while as many fetches as allowed are under way, however slow their sources', async () => {
    const image = serveImage(up, 3);
    const serve = up.handler;
    up.handler = (req, res) => {
      if (!req.url?.includes('/blobs/')) return serve(req, res);
      res.writeHead(200, { 'content-length': BLOB });
      trickle(up, res, 100);
    };
    const dir = join(disk.path, 'busy');
    await mkdir(dir);
    const ep = await startEndpoint(dir, up, { maxFetches: 2 });
    try {
      expect((await ep.get('evil/fill/manifests/latest')).status).toBe(200);
      up.paths.length = 0;
      const slow = image.layers.slice(0, 2).map((digest) => ep.get(`evil/fill/blobs/${digest}`));
      await expect.poll(() => up.paths.filter((p) => p.includes('/blobs/')).length).toBe(2);
      const refused = await ep.get(`evil/fill/blobs/${image.layers[2]}`);
      expect(refused.status).toBe(429);
      expect(refused.text).toMatch(/2 fetches are under way; retry later/);
      // The trickling sources are cut off for want of progress, and their slots come back.
      for (const answer of await Promise.all(slow)) expect(answer.status).toBe(404);
      up.handler = serve;
      expect((await ep.get(`evil/fill/blobs/${image.layers[2]}`)).status).toBe(200);
    } finally {
      await ep.close();
    }
  });

  it('are refused for a blob no manifest declared, before any upstream request', async () => {
    const dir = join(disk.path, 'unknown');
    await mkdir(dir);
    const ep = await startEndpoint(dir, up);
    try {
      up.paths.length = 0;
      const digest = sha256Digest(randomBytes(16));
      const answer = await ep.get(`evil/fill/blobs/${digest}`);
      expect(answer.status).toBe(404);
      expect(answer.text).toMatch(/in no manifest this agent has seen: pull the image's manifest first/);
      expect(up.paths).toEqual([]);
    } finally {
      await ep.close();
    }
  });

  it('are refused with 400 for a tag that is not one, before any upstream request', async () => {
    const dir = join(disk.path, 'tag');
    await mkdir(dir);
    const ep = await startEndpoint(dir, up);
    try {
      up.paths.length = 0;
      for (const tag of ['..%2f..%2fapi.token', '..%2F..', '%2e%2e', 'a%2f..%2f..', '%zz']) {
        const answer = await ep.get(`library/busybox/manifests/${tag}`);
        expect(answer.status).toBe(400);
        expect(answer.text).toMatch(
          /TAG_INVALID.*is neither a tag \(letters, digits, _ \. -, at most 128\) nor a sha256 digest/,
        );
      }
      expect(up.paths).toEqual([]);
    } finally {
      await ep.close();
    }
  });
});
