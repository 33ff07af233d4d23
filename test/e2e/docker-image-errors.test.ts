import { randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../src/node/drivers/docker-container-config.js';
import { DockerDriver } from '../../src/node/drivers/docker-driver.js';
import type { DockerTaskSpec } from '../../src/node/drivers/driver.js';
import { mirrorRef, parseImageRef } from '../../src/registry-p2p/image-ref.js';
import { startSite } from '../registry-p2p/mesh.js';
import { DOCKER_SOCKET, dockerWithTestImage, removeByLabel } from '../support/docker.js';
import { startUpstreamRegistry, type UpstreamRegistry } from '../support/registry.js';

/** A missing image says so in one short line with the true cause, through the agent's endpoint or not. */
let docker: Docker;
let registry: UpstreamRegistry;
const owner = `img-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  docker = await dockerWithTestImage();
  registry = await startUpstreamRegistry();
});

afterAll(async () => {
  await removeByLabel(docker, `${LABELS.owner}=${owner}`);
  await registry.stop();
});

function task(image: string): DockerTaskSpec {
  return {
    allocId: `t-${randomUUID().slice(0, 12)}`,
    job: 'web',
    jobVersion: 1,
    driver: 'docker',
    image,
    command: 'true',
    args: [],
    env: {},
    network: 'host',
    ports: [],
    resources: { cpu: 100, memory: 32 },
  };
}

async function failure(image: string, mirror?: string): Promise<string> {
  const driver = new DockerDriver({
    owner,
    socketPath: DOCKER_SOCKET,
    callTimeoutMs: 10_000,
    pullTimeoutMs: 10_000,
    ...(mirror ? { mirror: () => mirror } : {}),
  });
  const err = await driver.start(task(image)).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err).toMatchObject({ code: 'image-pull-failed' });
  return err!.message;
}

describe('a missing image', () => {
  it('is one short line naming manifest unknown, directly and through an endpoint', async () => {
    const image = `${registry.direct}/mycel/nonexistent:1`;
    for (const message of [await failure(image), await failure(image, registry.direct)]) {
      expect(message).toMatch(new RegExp(`^cannot pull ${image}: manifest unknown`));
      expect(message).not.toContain('\n');
      expect(message.length).toBeLessThan(220);
    }
  });

  it('says the registry is unreachable when nothing answers there', async () => {
    const image = '127.0.0.1:9/mycel/nonexistent:1';
    for (const message of [await failure(image), await failure(image, registry.direct)]) {
      expect(message).toMatch(
        /^cannot pull 127\.0\.0\.1:9\/mycel\/nonexistent:1: registry 127\.0\.0\.1:9 unreachable/,
      );
      expect(message.length).toBeLessThan(220);
    }
  });
});

describe('an agent’s registry endpoint', () => {
  it('passes on upstream’s manifest unknown, so Docker names the true cause', async () => {
    const site = await startSite(1);
    try {
      const ref = parseImageRef(`${registry.host}/mycel/nonexistent:1`)!;
      const via = mirrorRef(site.agents[0]!.registry.endpoint!, ref);
      let error = '';
      try {
        const stream = (await docker.pull(via)) as AsyncIterable<Buffer>;
        for await (const chunk of stream) error ||= /"error":"([^"]*)"/.exec(chunk.toString())?.[1] ?? '';
      } catch (err) {
        error = (err as Error).message;
      }
      expect(error).toMatch(/manifest unknown/);
      expect(error).not.toMatch(/unreachable|blob unknown/);
    } finally {
      await site.stop();
    }
  });
});
