import { afterAll, beforeAll, expect, test } from 'vitest';
import { waitFor } from '../support/agents.js';
import { bundle } from '../support/processes.js';
import { LIVE, RolloutMesh, spec } from './rollout-mesh.js';

/**
 * Percentage waves and manual promotion through three whole agents with the exec driver (real processes). Each
 * agent derives the wave from the job log and the verdicts the owners write; none leads. A copy marks itself
 * ready (a file in its working directory) and its check looks for the file; `ready` says which slots of a
 * version do (their alloc id starts with `<job>.<slot>.`).
 */
let mesh: RolloutMesh;
beforeAll(async () => {
  await bundle();
  mesh = await RolloutMesh.start('exec');
}, 60_000);
afterAll(() => mesh?.stop(), 60_000);

const slotOf = (allocId: string) => Number(allocId.split('.')[1]);

function fleet(name: string, readySlots: string, update: Record<string, unknown>, count = 10) {
  return spec({
    name,
    count,
    driver: 'exec',
    command: '/bin/sh',
    args: ['-c', `case "$MYCEL_ALLOC_ID" in ${readySlots}) echo > ready;; esac; exec sleep 300`],
    resources: { cpu: 10, memory: 8 },
    health: { type: 'exec', command: ['/bin/sh', '-c', '[ -f ready ]'], interval: '1s', timeout: '10s' },
    update: { maxParallel: 5, minHealthyTime: '500ms', healthyDeadline: '1m', ...update },
  });
}

test('three waves over 10 copies: the second wave fails its check, the fleet goes back to v1 and v2 never passed the first two waves', async () => {
  const waves = [10, 30, 100];
  expect(await mesh.submit(fleet('waves', '*', { waves }))).toBe(1);
  await mesh.settledOn('waves', 1, 10, 120_000);
  await mesh.rolloutEverywhere('waves', { target: 1, phase: 'complete' });

  // v2 is ready only in slot 0: the first wave (10%: slot 0) passes, the second (30%: slots 1 and 2) fails.
  expect(await mesh.submit(fleet('waves', 'waves.0.*', { waves }))).toBe(2);
  await mesh.rolloutEverywhere('waves', {
    latest: 2,
    target: 1,
    phase: 'reverted',
    wave: { index: 2, total: 3, percent: 30, slots: 3 },
    failure: { version: 2, reason: expect.stringMatching(/^health check failed/) },
  });
  await mesh.settledOn('waves', 1, 10, 120_000);

  // What every replica ever recorded: no copy of v2 outside the first two waves' three slots, on any device.
  for (const agent of mesh.agents) {
    const v2 = mesh.statuses('waves', agent).filter((s) => s.jobVersion === 2);
    expect(v2.length).toBeGreaterThanOrEqual(2);
    expect(new Set(v2.map((s) => slotOf(s.allocId)))).toSatisfy((slots: Set<number>) =>
      [...slots].every((slot) => slot < 3),
    );
    expect(v2.filter((s) => LIVE.includes(s.state))).toEqual([]);
  }
  expect(mesh.peakLive.get('waves@2')).toBeLessThanOrEqual(3);
  const status = await mesh.jobStatus('waves');
  expect(status).toMatch(/^Rollout: +rolled back to v1: v2 failed in wave 2\/3: health check failed/m);
  expect(status).toMatch(/Wave\s+2\/3: 30% \(3 of 10\)/);
}, 300_000);

test('autoPromote false: the rollout stops after its first wave until meshctl job promote, then goes on', async () => {
  const update = { waves: [25, 100], autoPromote: false };
  expect(await mesh.submit(fleet('promo', '*', update, 4))).toBe(1);
  await mesh.settledOn('promo', 1, 4);
  expect(await mesh.submit(fleet('promo', '*', { ...update, maxParallel: 1 }, 4))).toBe(2);
  await mesh.rolloutEverywhere('promo', {
    latest: 2,
    target: 2,
    phase: 'paused',
    wave: { index: 1, total: 2, percent: 25, slots: 1 },
    counts: { healthy: 1 },
  });
  // It waits: well past minHealthyTime, still one slot on v2.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const waiting = mesh.statuses('promo').filter((s) => s.jobVersion === 2);
  expect(waiting.map((s) => slotOf(s.allocId))).toEqual([0]);
  expect(await mesh.jobStatus('promo')).toMatch(
    /^Rollout: +v2 awaiting promotion after wave 1\/2 \(25%\): 1\/4 healthy \(meshctl job promote promo\)/m,
  );

  const promotedAt = Date.now();
  expect(await mesh.meshctl(['job', 'promote', 'promo'])).toBe(
    'job "promo" version 2 promoted: its rollout goes on once its first wave is healthy\n',
  );
  await mesh.settledOn('promo', 2, 4, 120_000);
  await mesh.rolloutEverywhere('promo', { target: 2, phase: 'complete' });
  const moved = mesh.statuses('promo').filter((s) => s.jobVersion === 2 && slotOf(s.allocId) > 0);
  expect(moved).toHaveLength(3);
  for (const s of moved) expect(s.startedAt).toBeGreaterThanOrEqual(promotedAt - 1_000);
  // Promoting again changes nothing.
  expect(await mesh.meshctl(['job', 'promote', 'promo'])).toBe(
    'job "promo" version 2 was already promoted\n',
  );
}, 300_000);

test('failures within maxFailureRatio: never relaunched, the rollout completes and those slots stay on v1', async () => {
  const update = { waves: [50, 100], maxFailureRatio: 0.5, maxParallel: 1 };
  expect(await mesh.submit(fleet('tol', '*', update, 4))).toBe(1);
  await mesh.settledOn('tol', 1, 4, 120_000);
  // v2 is ready in slots 1 and 3 only: slots 0 and 2 fail their check, one in each wave, within half of it.
  expect(await mesh.submit(fleet('tol', 'tol.1.*|tol.3.*', update, 4))).toBe(2);
  await mesh.rolloutEverywhere('tol', {
    latest: 2,
    target: 2,
    phase: 'complete',
    wave: { index: 2, total: 2, tolerated: [0, 2] },
  });
  const live = () =>
    mesh
      .statuses('tol')
      .filter((s) => LIVE.includes(s.state))
      .map((s) => `${slotOf(s.allocId)}:v${s.jobVersion}`)
      .sort();
  await waitFor('slots 0 and 2 back to v1 alone', () => live().join() === '0:v1,1:v2,2:v1,3:v2', 60_000);
  // Well past minHealthyTime and a check interval: nothing relaunches v2 in the tolerated slots.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  expect(live()).toEqual(['0:v1', '1:v2', '2:v1', '3:v2']);
  for (const agent of mesh.agents) {
    const v2 = mesh.statuses('tol', agent).filter((s) => s.jobVersion === 2);
    expect(v2.map((s) => slotOf(s.allocId)).sort()).toEqual([0, 1, 2, 3]);
  }
  const status = await mesh.jobStatus('tol');
  expect(status).toMatch(
    /^Rollout: +v2 rolled out with 2 failures tolerated: slots 0, 2 stay on the version before/m,
  );
  expect(status).toMatch(/^State +complete$/m);
  expect(status).toMatch(
    /^Tolerated +slots 0, 2 failed within maxFailureRatio: kept on the version before$/m,
  );
}, 300_000);
