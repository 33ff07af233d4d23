import { randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import { LABELS } from '../../src/node/drivers/docker-container-config.js';
import { DockerDriver } from '../../src/node/drivers/docker-driver.js';
import { parseImageRef } from '../../src/registry-p2p/image-ref.js';
import { parseManifest } from '../../src/registry-p2p/manifest.js';
import { connectDocker, DOCKER_SOCKET, removeByLabel } from '../support/docker.js';
import {
  busyboxLayer,
  imageConfig,
  pushImage,
  startUpstreamRegistry,
  type UpstreamRegistry,
} from '../support/registry.js';
import { startSite } from './mesh.js';

let docker: Docker;
let upstream: UpstreamRegistry;
let marker: string;
let image: string;
const owner = `reg-test-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  docker = await connectDocker();
  upstream = await startUpstreamRegistry();
  // Layer bytes this engine has never seen, so Docker must really fetch them.
  marker = `marker-${randomUUID()}`;
  const layer = await busyboxLayer(marker);
  const tag = marker.slice(-12);
  await pushImage(upstream.direct, 'mycel/p2p', tag, imageConfig([layer.tar]), [layer.gz]);
  image = `${upstream.host}/mycel/p2p:${tag}`;
});

afterAll(async () => {
  await removeByLabel(docker, `${LABELS.owner}=${owner}`);
  await docker
    .getImage(image)
    .remove({ force: true })
    .catch(() => {});
  await upstream?.stop();
});

describe('Docker pulls through its agent', () => {
  it('from a peer when the upstream registry is gone, then runs the image', async () => {
    const site = await startSite(2);
    try {
      const [holder, puller] = site.agents as [Agent, Agent];
      const ref = parseImageRef(image);
      if (!ref) throw new Error('bad ref');
      // The holder alone fetches the image (no delegation), so the puller starts with nothing.
      if (!('tag' in ref.reference)) throw new Error('tagged ref expected');
      const manifest = await holder.registry.puller.resolveTag(
        ref.registry,
        ref.repository,
        ref.reference.tag,
      );
      const parsed = parseManifest(manifest.bytes);
      if (parsed?.kind !== 'image') throw new Error('image manifest expected');
      for (const blob of parsed.blobs) {
        await holder.registry.fetcher.fetch(blob.digest, { ...ref, size: blob.size, delegate: false });
        expect(puller.registry.store.has(blob.digest)).toBe(false);
      }
      await upstream.cut();
      upstream.resetCount();

      const driver = new DockerDriver({
        owner,
        socketPath: DOCKER_SOCKET,
        mirror: () => puller.registry.endpoint,
        pullTimeoutMs: 60_000,
      });
      const handle = await driver.start({
        allocId: `reg-${randomUUID().slice(0, 8)}`,
        job: 'p2p',
        jobVersion: 1,
        driver: 'docker',
        image,
        command: 'sh',
        args: ['-c', 'sleep 30'],
        env: {},
        network: 'host',
        ports: [],
        resources: { cpu: 100, memory: 32 },
      });
      expect(handle.state).toBe('running');
      expect((await driver.exec(handle.allocId, ['cat', '/marker'])).output).toBe(marker);
      // Under the spec's name, not the endpoint's.
      expect((await docker.getImage(image).inspect()).RepoTags).toContain(image);
      expect(upstream.bytesServed()).toBe(0);
      expect(puller.registry.fetcher.bytesFrom.peers).toBeGreaterThan(500_000);
      expect(puller.registry.fetcher.bytesFrom.upstream).toBe(0);
      await driver.stop(handle.allocId, { graceMs: 1_000 });
    } finally {
      await site.stop();
    }
  }, 90_000);
});
