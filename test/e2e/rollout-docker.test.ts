import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { LABELS } from '../../src/node/drivers/docker-container-config.js';
import { dockerWithTestImage, removeByLabel, TEST_IMAGE } from '../support/docker.js';
import { bundle } from '../support/processes.js';
import { RolloutMesh, spec } from './rollout-mesh.js';

/**
 * autoRevert through three whole agents sharing the real local Docker Engine (fails without one, as every
 * Docker test does). The job name is unique per run, so its containers cannot collide with anyone else's.
 */
let docker: Docker;
let mesh: RolloutMesh;
const name = `rollout-${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  docker = await dockerWithTestImage();
  await bundle();
  mesh = await RolloutMesh.start('docker');
}, 90_000);
afterAll(async () => {
  await mesh?.stop();
  await removeByLabel(docker, `${LABELS.job}=${name}`);
}, 60_000);

/** A container that marks itself ready in /tmp, stops at once on SIGTERM, and a check that looks for `file`. */
const job = (file: string) =>
  spec({
    name,
    driver: 'docker',
    image: TEST_IMAGE,
    command: 'sh',
    args: ['-c', 'trap "exit 0" TERM; echo > /tmp/ready; sleep 300 & wait'],
    health: { type: 'exec', command: ['sh', '-c', `[ -f /tmp/${file} ]`], interval: '1s', timeout: '10s' },
    update: { maxParallel: 1, minHealthyTime: '500ms', healthyDeadline: '1m', autoRevert: true },
  });

const containers = async (version: number) =>
  (
    await docker.listContainers({
      filters: { label: [`${LABELS.job}=${name}`, `${LABELS.version}=${version}`] },
    })
  ).length;

test('docker: a new version whose check fails runs in one container only and every agent reverts to the old one', async () => {
  expect(await mesh.submit(job('ready'))).toBe(1);
  await mesh.settledOn(name, 1, 3, 60_000);
  expect(await containers(1)).toBe(3);

  expect(await mesh.submit(job('missing'))).toBe(2);
  await mesh.rolloutEverywhere(name, { latest: 2, target: 1, phase: 'reverted' });
  await mesh.settledOn(name, 1, 3, 60_000);
  const rollout = await mesh.rolloutEverywhere(name, {
    failure: { version: 2, reason: expect.stringMatching(/^health check failed/) },
    counts: { total: 3, updated: 3, healthy: 3, pending: 0, unhealthy: 1 },
  });
  expect(mesh.statuses(name).filter((s) => s.jobVersion === 2)).toHaveLength(1);
  expect(mesh.peakLive.get(`${name}@2`)).toBe(1);
  // What the engine runs, not only what the agents say.
  expect([await containers(1), await containers(2)]).toEqual([3, 0]);

  const status = await mesh.jobStatus(name);
  expect(status).toMatch(/State\s+reverted/);
  expect(status).toContain(`version 2 failed, reverted to version 1: ${rollout.failure!.allocId}`);
}, 180_000);
