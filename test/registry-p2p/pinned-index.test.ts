import { randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import { LABELS } from '../../src/node/drivers/docker-container-config.js';
import { DockerDriver } from '../../src/node/drivers/docker-driver.js';
import { sha256Digest } from '../../src/registry-p2p/digest.js';
import { connectDocker, DOCKER_SOCKET, removeByLabel } from '../support/docker.js';
import {
  busyboxLayer,
  imageConfig,
  type PushedImage,
  pushImage,
  startUpstreamRegistry,
  type UpstreamRegistry,
} from '../support/registry.js';
import { startSite } from './mesh.js';

/** A multi-arch image is pinned to its index, and each device runs its platform's image from that index. */
let docker: Docker;
let upstream: UpstreamRegistry;
let image: PushedImage;
let index: Uint8Array;
const REPO = 'mycel/multi';
const owner = `pinidx-${randomUUID().slice(0, 8)}`;
const LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

beforeAll(async () => {
  docker = await connectDocker();
  upstream = await startUpstreamRegistry();
  const layer = await busyboxLayer(`multi-${randomUUID()}`);
  image = await pushImage(upstream.direct, REPO, 'single', imageConfig([layer.tar]), [layer.gz]);
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  const entry = (architecture: string) => ({
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    size: image.manifest.bytes.length,
    digest: image.manifest.digest,
    platform: { os: 'linux', architecture },
  });
  // Another platform's entry too; it names the same manifest, as the registry takes an index only when every
  // child it names is present.
  index = new TextEncoder().encode(
    JSON.stringify({ schemaVersion: 2, mediaType: LIST, manifests: [entry('s390x'), entry(arch)] }),
  );
  const put = await fetch(`http://${upstream.direct}/v2/${REPO}/manifests/v1`, {
    method: 'PUT',
    headers: { 'content-type': LIST },
    body: index,
  });
  if (put.status !== 201) throw new Error(`index: ${put.status} ${await put.text()}`);
});

afterAll(async () => {
  await removeByLabel(docker, `${LABELS.owner}=${owner}`);
  await upstream?.stop();
});

describe('a multi-arch image', () => {
  it('is pinned to its index digest, and the engine runs this platform’s image pulled by it', async () => {
    const site = await startSite(1);
    try {
      const [agent] = site.agents as [Agent];
      const pinned = await agent.registry.resolveImage(`${upstream.host}/${REPO}:v1`);
      expect(pinned).toEqual({
        image: `${upstream.host}/${REPO}:v1@${sha256Digest(index)}`,
        digest: sha256Digest(index),
        resolved: true,
        source: 'upstream',
      });
      const driver = new DockerDriver({
        owner,
        socketPath: DOCKER_SOCKET,
        callTimeoutMs: 10_000,
        pullTimeoutMs: 30_000,
        mirror: () => agent.registry.endpoint,
      });
      const allocId = `i-${randomUUID().slice(0, 12)}`;
      await driver.start({
        allocId,
        job: 'multi',
        jobVersion: 1,
        driver: 'docker',
        image: pinned.image,
        command: 'sleep',
        args: ['30'],
        env: {},
        network: 'host',
        ports: [],
        resources: { cpu: 100, memory: 32 },
      });
      const [container] = await docker.listContainers({ filters: { label: [`${LABELS.alloc}=${allocId}`] } });
      expect(container?.ImageID).toBe(image.config.digest);
      const info = await docker.getImage(image.config.digest).inspect();
      expect(info.RepoDigests).toContain(
        `${agent.registry.endpoint}/${upstream.host.replace(':', '_')}/${REPO}@${sha256Digest(index)}`,
      );
      // The endpoint served the index and the child from its store: nothing went around it.
      expect(agent.registry.store.has(sha256Digest(index))).toBe(true);
      await driver.stop(allocId, { graceMs: 500 });
    } finally {
      await site.stop();
    }
  }, 90_000);
});
