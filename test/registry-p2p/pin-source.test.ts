import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pinWarning } from '../../src/cli/commands/job-image-pin.js';
import type { Agent } from '../../src/node/agent.js';
import {
  busyboxLayer,
  imageConfig,
  type PushedImage,
  pushImage,
  startUpstreamRegistry,
  type UpstreamRegistry,
} from '../support/registry.js';
import { startSite } from './mesh.js';

/** A pin says who named its digest: the registry, the agent's last answer from it, or a majority of peers. */
let upstream: UpstreamRegistry;
let image: PushedImage;
const REPO = 'mycel/pin-source';

beforeAll(async () => {
  upstream = await startUpstreamRegistry();
  const layer = await busyboxLayer(`pin-source-${randomUUID()}`);
  image = await pushImage(upstream.direct, REPO, 'v1', imageConfig([layer.tar]), [layer.gz]);
});

afterAll(async () => {
  await upstream?.stop();
});

it('says the registry named it, else the agent’s last answer, else how many peers; the CLI warns for the last two', async () => {
  const site = await startSite(2);
  try {
    const [holder, newcomer] = site.agents as [Agent, Agent];
    const name = `${upstream.host}/${REPO}:v1`;
    const fromRegistry = await holder.registry.resolveImage(name);
    expect(fromRegistry).toMatchObject({ digest: image.manifest.digest, source: 'upstream' });
    expect(pinWarning(name, fromRegistry)).toBeUndefined();

    await upstream.cut();
    const stored = await holder.registry.resolveImage(name);
    expect(stored).toMatchObject({ digest: image.manifest.digest, source: 'stored' });
    expect(stored.upstreamError).toBeTruthy();
    expect(pinWarning(name, stored)).toMatch(
      /^warning: .*:v1 pinned to sha256:[0-9a-f]{12}… as the agent's last answer from the registry named it \(its registry did not answer: /,
    );

    const fromPeers = await newcomer.registry.resolveImage(name);
    expect(fromPeers).toMatchObject({ digest: image.manifest.digest, source: { peers: 1, asked: 1 } });
    expect(pinWarning(name, fromPeers)).toMatch(/as 1 of 1 peers asked named it/);
  } finally {
    await site.stop();
  }
}, 60_000);
