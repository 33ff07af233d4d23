import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import { LABELS } from '../../src/node/drivers/docker-container-config.js';
import { DockerDriver } from '../../src/node/drivers/docker-driver.js';
import { type Digest, hexOf } from '../../src/registry-p2p/digest.js';
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

let docker: Docker;
let upstream: UpstreamRegistry;
let signed: PushedImage;
let other: PushedImage;
const REPO = 'mycel/pinned-peer';
const owner = `pinpeer-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  docker = await connectDocker();
  upstream = await startUpstreamRegistry();
  const push = async (tag: string) => {
    const layer = await busyboxLayer(`${tag}-${randomUUID()}`);
    return pushImage(upstream.direct, REPO, tag, imageConfig([layer.tar]), [layer.gz]);
  };
  signed = await push('v1');
  other = await push('other');
});

afterAll(async () => {
  await removeByLabel(docker, `${LABELS.owner}=${owner}`);
  await upstream?.stop();
});

describe('a pinned image whose manifest a peer serves wrong', () => {
  it('is refused: the copy does not start rather than run what the peer gave, and the peer is penalised', async () => {
    const site = await startSite(2);
    try {
      const [holder, asker] = site.agents as [Agent, Agent];
      const digest = signed.manifest.digest as Digest;
      await holder.registry.puller.resolveTag(upstream.host, REPO, 'v1');
      // The holder now serves another, valid, manifest under the signed digest; and the uplink is gone.
      const path = join(holder.config.dataDir, 'registry', 'blobs', 'sha256', hexOf(digest));
      await writeFile(path, other.manifest.bytes);
      await upstream.cut();

      const driver = new DockerDriver({
        owner,
        socketPath: DOCKER_SOCKET,
        callTimeoutMs: 10_000,
        pullTimeoutMs: 20_000,
        mirror: () => asker.registry.endpoint,
      });
      const started = driver.start({
        allocId: `p-${randomUUID().slice(0, 12)}`,
        job: 'pinned',
        jobVersion: 1,
        driver: 'docker',
        image: `${upstream.host}/${REPO}:v1@${digest}`,
        command: 'sleep',
        args: ['30'],
        env: {},
        network: 'host',
        ports: [],
        resources: { cpu: 100, memory: 32 },
      });
      await expect(started).rejects.toMatchObject({ code: 'image-pull-failed' });
      expect(asker.registry.scores.get(holder.peerId)?.offences.corrupt).toBe(1);
      expect(asker.registry.store.has(digest)).toBe(false);
      expect(asker.registry.store.has(other.manifest.digest as Digest)).toBe(false);
      await expect(docker.getImage(other.config.digest).inspect()).rejects.toMatchObject({ statusCode: 404 });
      expect(
        await docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${owner}`] } }),
      ).toEqual([]);
    } finally {
      await site.stop();
    }
  }, 90_000);
});
