import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import type { Digest } from '../../src/registry-p2p/digest.js';
import {
  imageConfig,
  type PushedImage,
  pushImage,
  startUpstreamRegistry,
  type UpstreamRegistry,
} from '../support/registry.js';
import { FAST_REGISTRY, startSite } from './mesh.js';

const REPO = 'mycel/slow';
const LAYER_BYTES = 16 * 1024 * 1024;
/** A slow SD card: the receiver writes an eighth of what loopback carries in the same time. */
const WRITE_RATE = 8 * 1024 * 1024;

let upstream: UpstreamRegistry;
let image: PushedImage;

beforeAll(async () => {
  upstream = await startUpstreamRegistry();
  const layers = [randomBytes(LAYER_BYTES)];
  image = await pushImage(upstream.direct, REPO, 'v1', imageConfig(layers), layers);
});

afterAll(async () => {
  await upstream?.stop();
});

it('a layer reaches a receiver that writes far slower than its peer sends, from the peer alone', async () => {
  const site = await startSite(2, { ...FAST_REGISTRY, writeBytesPerSecond: WRITE_RATE });
  try {
    const [holder, asker] = site.agents as [Agent, Agent];
    const layer = image.layers[0]!;
    const digest = layer.digest as Digest;
    const context = { registry: upstream.host, repository: REPO, size: layer.bytes.length };
    await holder.registry.fetcher.fetch(digest, { ...context, delegate: false });
    upstream.resetCount();

    const started = Date.now();
    await asker.registry.fetcher.fetch(digest, { ...context, delegate: true });
    const seconds = (Date.now() - started) / 1000;

    const stored = await asker.registry.store.readBytes(digest);
    expect(Buffer.compare(stored, Buffer.from(layer.bytes))).toBe(0);
    // Every byte from the peer, in one go: no stall, no fall back to the upstream registry.
    expect(asker.registry.fetcher.bytesFrom.peers).toBe(LAYER_BYTES);
    expect(upstream.bytesServed()).toBe(0);
    expect(asker.registry.scores.get(holder.peerId)?.offences.stalled ?? 0).toBe(0);
    // The receiver's pace set the transfer's: the sender waited rather than the receiver buffering.
    expect(seconds).toBeGreaterThanOrEqual((0.9 * LAYER_BYTES) / WRITE_RATE);
  } finally {
    await site.stop();
  }
}, 120_000);
