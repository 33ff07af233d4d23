import { afterAll, beforeAll, expect, test } from 'vitest';
import { bundle } from '../support/processes.js';
import { RolloutMesh, spec } from './rollout-mesh.js';

/**
 * Staged rollouts through three whole agents with the exec driver (real processes). The version to run, the
 * order and the gate are derived by every agent on its own from the replicated job log and the verdicts the
 * owners write into their allocation statuses; no agent leads. healthyDeadline and the check's timeout are
 * long: they are not under test here (test/node/workloads/reconciler.test.ts is), and short ones would rightly fail
 * healthy copies on a loaded machine.
 */
let mesh: RolloutMesh;
beforeAll(async () => {
  await bundle();
  mesh = await RolloutMesh.start('exec');
}, 60_000);
afterAll(() => mesh?.stop(), 30_000);

/** A process that marks itself ready (a file in its working directory) and a check that looks for `file`. */
const web = (file: string, extra: Record<string, unknown> = {}) =>
  spec({
    name: 'web',
    driver: 'exec',
    command: '/bin/sh',
    args: ['-c', 'echo > ready && exec sleep 300'],
    health: { type: 'exec', command: ['/bin/sh', '-c', `[ -f ${file} ]`], interval: '1s', timeout: '10s' },
    update: { maxParallel: 1, minHealthyTime: '500ms', healthyDeadline: '1m', autoRevert: true },
    ...extra,
  });

test('a new version whose check fails goes to one copy only, turns unhealthy and is reverted on every agent', async () => {
  expect(await mesh.submit(web('ready'))).toBe(1);
  await mesh.settledOn('web', 1, 3);
  await mesh.rolloutEverywhere('web', { target: 1, phase: 'complete' });

  expect(await mesh.submit(web('missing'))).toBe(2);
  await mesh.settledOn('web', 1, 3);
  await mesh.rolloutEverywhere('web', {
    latest: 2,
    target: 1,
    phase: 'reverted',
    failure: { version: 2, reason: expect.stringMatching(/^health check failed/) },
    counts: { total: 3, updated: 3, healthy: 3, pending: 0, unhealthy: 1 },
  });
  // maxParallel 1: one copy of v2 was ever made, and no agent ever saw more than one live.
  const v2 = mesh.statuses('web').filter((s) => s.jobVersion === 2);
  expect(v2).toHaveLength(1);
  expect(v2[0]).toMatchObject({ verdict: { healthy: false } });
  expect(mesh.peakLive.get('web@2')).toBe(1);

  const status = await mesh.jobStatus('web');
  expect(status).toMatch(/Target\s+version 1 \(newest is 2\)/);
  expect(status).toMatch(/State\s+reverted/);
  expect(status).toContain(`version 2 failed, reverted to version 1: ${v2[0]!.allocId}: health check failed`);
  // The derived status: what runs is version 1, and the head of `job status` says it was rolled back and why.
  expect(status).toMatch(/^Rollout: +rolled back to v1: v2 failed: health check failed/m);
}, 180_000);

test('a healthy new version rolls out one slot at a time, each after the one before is healthy', async () => {
  const api = (version: string) =>
    spec({
      name: 'api',
      driver: 'exec',
      command: '/bin/sh',
      args: ['-c', `echo ${version} > ready && exec sleep 300`],
      health: { type: 'exec', command: ['/bin/sh', '-c', '[ -f ready ]'], interval: '1s', timeout: '10s' },
      update: { maxParallel: 1, minHealthyTime: '500ms', healthyDeadline: '1m' },
    });
  expect(await mesh.submit(api('one'))).toBe(1);
  await mesh.settledOn('api', 1, 3);
  expect(await mesh.submit(api('two'))).toBe(2);
  await mesh.settledOn('api', 2, 3);
  await mesh.rolloutEverywhere('api', {
    target: 2,
    phase: 'complete',
    counts: { total: 3, updated: 3, healthy: 3, pending: 0, unhealthy: 0 },
  });
  expect(mesh.peakUnsettled.get('api@2')).toBe(1);
  // Slot by slot: each new copy started only after the one before it was judged healthy.
  const v2 = mesh
    .statuses('api')
    .filter((s) => s.jobVersion === 2)
    .sort((a, b) => a.startedAt - b.startedAt);
  expect(v2.map((s) => s.allocId.split('.')[1])).toEqual(['0', '1', '2']);
  for (let i = 1; i < v2.length; i++) expect(v2[i]!.startedAt).toBeGreaterThanOrEqual(v2[i - 1]!.verdict!.at);
  expect(await mesh.jobStatus('api')).toMatch(/State\s+complete/);
}, 180_000);
