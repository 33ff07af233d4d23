import { afterAll, beforeAll, expect, test } from 'vitest';
import type { JobSpecInput } from '../../src/crdt/job-spec.js';
import type { AllocStatus } from '../../src/crdt/records.js';
import { waitFor } from '../support/agents.js';
import { bundle } from '../support/processes.js';
import { LIVE, RolloutMesh, spec } from './rollout-mesh.js';

/**
 * Rolling updates keep capacity, through three whole agents with the exec driver (real processes): the new
 * copy of a 1-copy service starts beside the old one, and the old one stops only once its owner has seen the
 * new one judged healthy; a new version that fails its check leaves the old copy running throughout, and
 * autoRevert still reverts. Each copy is read from its owner's replica (what its reconciler reported), every
 * 10 ms.
 */
let mesh: RolloutMesh;
beforeAll(async () => {
  await bundle();
  mesh = await RolloutMesh.start('exec');
}, 60_000);
afterAll(() => mesh?.stop(), 30_000);

const serviceInput = (name: string, file: string, tag: string): Partial<JobSpecInput> => ({
  name,
  count: 1,
  driver: 'exec',
  command: '/bin/sh',
  args: ['-c', `echo ${tag} > ready && exec sleep 300`],
  health: { type: 'exec', command: ['/bin/sh', '-c', `[ -f ${file} ]`], interval: '1s', timeout: '10s' },
  update: { maxParallel: 1, minHealthyTime: '500ms', healthyDeadline: '1m', autoRevert: true },
});
const service = (name: string, file: string, tag: string) => spec(serviceInput(name, file, tag));

/** The copies of `job`, each as its owner reports it. */
function owned(job: string): AllocStatus[] {
  return mesh.agents.flatMap((a) => mesh.statuses(job, a).filter((s) => s.node === a.peerId));
}

/** Samples the owners' copies of `job` until stopped: the fewest and most running at once, and each sample. */
function watch(job: string) {
  const samples: AllocStatus[][] = [];
  const timer = setInterval(() => samples.push(owned(job)), 10);
  return {
    samples,
    stop: () => clearInterval(timer),
    running: (sample: readonly AllocStatus[]) => sample.filter((s) => s.state === 'running').length,
  };
}

test('a 1-copy service is never without a running copy while it updates; the old stops after the new is healthy', async () => {
  expect(await mesh.submit(service('solo', 'ready', 'one'))).toBe(1);
  await mesh.settledOn('solo', 1, 1);
  const [old] = owned('solo');

  const w = watch('solo');
  expect(await mesh.submit(service('solo', 'ready', 'two'))).toBe(2);
  await mesh.settledOn('solo', 2, 1);
  await mesh.rolloutEverywhere('solo', { target: 2, phase: 'complete' });
  w.stop();

  expect(w.samples.length).toBeGreaterThan(20);
  expect(Math.min(...w.samples.map(w.running))).toBeGreaterThanOrEqual(1);
  // The surge happened: both versions ran at once.
  expect(Math.max(...w.samples.map(w.running))).toBe(2);
  for (const sample of w.samples) {
    const before = sample.find((s) => s.allocId === old!.allocId);
    if (before !== undefined && LIVE.includes(before.state)) continue;
    // In every sample where the old copy has stopped, its successor is running and judged healthy.
    const next = sample.find((s) => s.jobVersion === 2);
    expect(next).toMatchObject({ state: 'running', verdict: { healthy: true } });
  }
  expect(mesh.statuses('solo').find((s) => s.allocId === old!.allocId)?.state).toBe('complete');
  const rollout = await mesh.rolloutEverywhere('solo', { target: 2 });
  expect(rollout.stopFirst).toBeUndefined();
}, 120_000);

test('a new version that fails its check leaves the old copy running throughout, and is reverted', async () => {
  expect(await mesh.submit(service('flaky', 'ready', 'one'))).toBe(1);
  await mesh.settledOn('flaky', 1, 1);
  const [old] = owned('flaky');

  const w = watch('flaky');
  expect(await mesh.submit(service('flaky', 'missing', 'two'))).toBe(2);
  await mesh.rolloutEverywhere('flaky', {
    latest: 2,
    target: 1,
    phase: 'reverted',
    failure: { version: 2, reason: expect.stringMatching(/^health check failed/) },
  });
  await waitFor('the failed copy to stop', () =>
    owned('flaky').every((s) => s.jobVersion === 1 || !LIVE.includes(s.state)),
  );
  await mesh.settledOn('flaky', 1, 1);
  w.stop();

  // The v2 copy did start (beside the old one), and the old copy ran in every sample: never stopped, never
  // replaced.
  expect(w.samples.some((sample) => sample.some((s) => s.jobVersion === 2))).toBe(true);
  for (const sample of w.samples)
    expect(sample.find((s) => s.allocId === old!.allocId)).toMatchObject({ state: 'running' });
  expect(mesh.statuses('flaky').filter((s) => s.jobVersion === 1)).toHaveLength(1);
}, 120_000);

test('no room for both (a fixed host port on the only eligible device): the old stops first, and job status says so', async () => {
  const pinned = (tag: string) =>
    spec({
      ...serviceInput('pinned', 'ready', tag),
      constraints: [{ attribute: 'name', operator: '=', value: 'r0' }],
      ports: [{ name: 'http', host: 18431 }],
      // Long enough to read the status while the new copy is not yet judged.
      update: { maxParallel: 1, minHealthyTime: '4s', healthyDeadline: '1m', autoRevert: true },
    });
  expect(await mesh.submit(pinned('one'))).toBe(1);
  await mesh.settledOn('pinned', 1, 1);
  const [old] = owned('pinned');

  expect(await mesh.submit(pinned('two'))).toBe(2);
  await mesh.rolloutEverywhere('pinned', { target: 2, stopFirst: [{ slot: 0, reason: 'ports' }] });
  expect(await mesh.jobStatus('pinned')).toMatch(
    /^Surge +none for slot 0 \(ports\): no room for both copies, the old stops first$/m,
  );
  expect(mesh.statuses('pinned').find((s) => s.allocId === old!.allocId)?.state).toBe('complete');
  await mesh.settledOn('pinned', 2, 1);
  expect((await mesh.rolloutEverywhere('pinned', { phase: 'complete' })).stopFirst).toBeUndefined();
}, 120_000);
