import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import { type Digest, hexOf } from '../../src/registry-p2p/digest.js';
import { parseImageRef } from '../../src/registry-p2p/image-ref.js';
import { rendezvousOwner } from '../../src/registry-p2p/rendezvous.js';
import { waitFor } from '../support/agents.js';
import {
  imageConfig,
  type PushedImage,
  pushImage,
  startUpstreamRegistry,
  type UpstreamRegistry,
} from '../support/registry.js';
import { FAST_REGISTRY, startSite } from './mesh.js';

let upstream: UpstreamRegistry;
let image: PushedImage;
const REPO = 'mycel/random';

beforeAll(async () => {
  upstream = await startUpstreamRegistry();
  const layers = [randomBytes(1_500_000), randomBytes(1_000_000), randomBytes(700_000)];
  image = await pushImage(upstream.direct, REPO, 'v1', imageConfig(layers), layers);
});

afterAll(async () => {
  await upstream?.stop();
});

function ref(tag = 'v1') {
  const parsed = parseImageRef(`${upstream.host}/${REPO}:${tag}`);
  if (!parsed) throw new Error('bad ref');
  return parsed;
}

function holdsImage(agent: Agent): boolean {
  return [image.config, ...image.layers].every((b) => agent.registry.store.has(b.digest as Digest));
}

describe('agents pulling the same new image at once', () => {
  it('fetch each blob from upstream once and all end up holding it', async () => {
    // A follower that hears nothing for stallMs rightly goes upstream; on a loaded machine 1.5 s of silence
    // happens, so this test of the dedupe (not of stalls) gives the fetchers a stall timeout load cannot reach.
    const site = await startSite(4, { ...FAST_REGISTRY, stallMs: 30_000 });
    try {
      upstream.resetCount();
      await Promise.all(site.agents.map((a) => a.registry.puller.pull(ref())));
      expect(site.agents.every(holdsImage)).toBe(true);
      // One copy of the image plus each agent's tag resolution and HTTP overhead; four copies would be 4.0.
      expect(upstream.bytesServed() / image.size).toBeLessThan(1.15);
      const fromPeers = site.agents.reduce((n, a) => n + a.registry.fetcher.bytesFrom.peers, 0);
      expect(fromPeers).toBeGreaterThanOrEqual(3 * (image.size - image.manifest.bytes.length) * 0.99);
    } finally {
      await site.stop();
    }
  }, 60_000);
});

describe('a peer serving corrupted bytes', () => {
  it('is rejected and penalised, and the blob comes from another source', async () => {
    const site = await startSite(3);
    try {
      const [holder, other, asker] = site.agents as [Agent, Agent, Agent];
      const layer = image.layers[0]!;
      // Straight from upstream, so the holder is the one peer with a copy.
      await holder.registry.fetcher.fetch(layer.digest as Digest, {
        registry: upstream.host,
        repository: REPO,
        size: layer.bytes.length,
        delegate: false,
      });
      const path = join(holder.config.dataDir, 'registry', 'blobs', 'sha256', hexOf(layer.digest as Digest));
      const bytes = await readFile(path);
      bytes[1000] = (bytes[1000] ?? 0) ^ 0xff;
      await writeFile(path, bytes);

      await asker.registry.fetcher.fetch(layer.digest as Digest, {
        registry: upstream.host,
        repository: REPO,
        size: layer.bytes.length,
        delegate: true,
      });
      const stored = await asker.registry.store.readBytes(layer.digest as Digest);
      expect(Buffer.compare(stored, Buffer.from(layer.bytes))).toBe(0);
      expect(asker.registry.scores.get(holder.peerId)?.offences.corrupt).toBe(1);
      expect(asker.registry.scores.usable(holder.peerId)).toBe(false);
      expect(asker.registry.scores.get(other.peerId)?.offences.corrupt ?? 0).toBe(0);
    } finally {
      await site.stop();
    }
  }, 60_000);
});

describe('a peer that stalls mid-blob', () => {
  it('hands over to the next source, which resumes at the byte reached', async () => {
    const site = await startSite(2);
    try {
      const layer = image.layers[0]!;
      const digest = layer.digest as Digest;
      // An agent follows a peer still fetching only when that peer ranks above it for the digest.
      const [a, b] = site.agents as [Agent, Agent];
      const staller = rendezvousOwner(digest, [a.peerId, b.peerId]) === a.peerId ? a : b;
      const asker = staller === a ? b : a;
      const half = Math.floor(layer.bytes.length / 2);
      // The staller is itself fetching the blob, and its own source went silent after half of it.
      const writer = await staller.registry.store.begin(digest, layer.bytes.length);
      await writer.append(layer.bytes.subarray(0, half));

      upstream.resetCount();
      const started = Date.now();
      await asker.registry.fetcher.fetch(digest, {
        registry: upstream.host,
        repository: REPO,
        size: layer.bytes.length,
        delegate: true,
      });
      const elapsed = Date.now() - started;
      const stored = await asker.registry.store.readBytes(digest);
      expect(Buffer.compare(stored, Buffer.from(layer.bytes))).toBe(0);
      // Resumed with a range request: upstream sent the second half, not the whole blob.
      expect(upstream.bytesServed()).toBeLessThan(layer.bytes.length - half + 16_384);
      expect(asker.registry.fetcher.bytesFrom.peers).toBe(half);
      expect(asker.registry.scores.get(staller.peerId)?.offences.stalled).toBe(1);
      // The stall timeout (1.5 s) plus the hand-over, not a hang.
      expect(elapsed).toBeLessThan(10_000);
      await staller.registry.store.abort(writer, new Error('test over'));
    } finally {
      await site.stop();
    }
  }, 60_000);
});

describe('meshctl image prepull and list', () => {
  it('fetch the image on the nodes whose labels match, and show what each node holds', async () => {
    const site = await startSite(3, undefined, true, (i) => ({ zone: i === 2 ? 'south' : 'north' }));
    try {
      const [asker, north, south] = site.agents as [Agent, Agent, Agent];
      await asker.registry.prepull(`${upstream.host}/${REPO}:v1`, { zone: 'north' });
      await waitFor(
        'the northern nodes to hold the image',
        () => holdsImage(asker) && holdsImage(north),
        30_000,
      );
      const listed = await asker.registry.meshImages();
      const byPeer = new Map(listed.map((l) => [l.peer, l.images]));
      const ref = `${upstream.host}/${REPO}:v1`;
      expect(byPeer.get(north.peerId)).toEqual([{ ref, digest: image.manifest.digest, complete: true }]);
      expect(byPeer.get(asker.peerId)).toEqual([{ ref, digest: image.manifest.digest, complete: true }]);
      // South may hold some blobs, fetched as a digest's owner for the others, but no image of its own.
      expect(byPeer.get(south.peerId)).toEqual([]);
    } finally {
      await site.stop();
    }
  }, 60_000);
});
