import { pino } from 'pino';
import { afterEach, expect, test, vi } from 'vitest';
import { SimDriver } from '../../../sim/driver/sim-driver.js';
import { SimRuntime } from '../../../sim/driver/sim-runtime.js';
import type { JsonValue } from '../../../src/crdt/canonical-json.js';
import { parseJobFile } from '../../../src/crdt/job-file.js';
import { defaultConfig } from '../../../src/node/setup/config.js';
import { Workloads } from '../../../src/node/workloads/workloads.js';
import { nodeRecord, replica } from '../../crdt/replicas.js';
import { tempDir, waitFor } from '../../support/agents.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/**
 * A fresh agent holds back new copies for one lost-period (its replica may still lack what peers wrote), then
 * starts them. The agent's clock is frozen here: warm-up must end on its timer, not on a clock reading, because
 * a plan is only announced when it changes and Node timers may fire a millisecond before Date.now() is due.
 */
async function freshAgent(LOST_AFTER_MS: number) {
  const frozen = 1_000_000;
  const dir = await tempDir();
  cleanups.push(dir.cleanup);
  const state = replica('a');
  state.putNodeRecord(nodeRecord('a'), frozen);
  const job = parseJobFile(
    ['name: web', 'driver: exec', 'command: /bin/sleep', 'args: ["300"]', 'count: 1'].join('\n'),
  );
  if (!job.ok) throw new Error(JSON.stringify(job.errors));
  state.submitJob('web', job.spec as unknown as JsonValue, 'operator', frozen);

  const runtime = new SimRuntime(() => frozen);
  const workloads = await Workloads.start({
    self: 'a',
    config: { ...defaultConfig(), dataDir: dir.path, lostAfterMs: LOST_AFTER_MS },
    log: pino({ level: 'silent' }),
    now: () => frozen,
    state,
    publish: () => {},
    persist: async () => {},
    drivers: ['exec'],
    liveness: () => [],
    tuning: { debounceMs: 10 },
    makeDriver: (_, owner) => new SimDriver(runtime, owner),
  });
  cleanups.push(() => workloads.stop());

  return { workloads, runtime, state };
}

test('a new copy waits out the warm-up, then starts without any further change to the plan', async () => {
  const { workloads, runtime, state } = await freshAgent(1_500);
  await waitFor('the first plan', () => (workloads.placement.localPlan()?.start.length ?? 0) === 1);
  expect(runtime.list('a')).toEqual([]);
  await waitFor('the copy to start once warmed up', () => runtime.list('a').length === 1, 10_000);
  expect(state.allocations()).toMatchObject([{ node: 'a', job: 'web', state: 'running' }]);
});

test('a new copy starts as soon as the agent has heard the mesh, long before its lost period', async () => {
  const { workloads, runtime } = await freshAgent(600_000);
  await waitFor('the first plan', () => (workloads.placement.localPlan()?.start.length ?? 0) === 1);
  await new Promise((r) => setTimeout(r, 200));
  expect(runtime.list('a')).toEqual([]);
  expect(workloads.warmUp()).toBeDefined();
  workloads.meshHeard();
  expect(workloads.warmUp()).toBeUndefined();
  await waitFor('the copy to start once the mesh is heard', () => runtime.list('a').length === 1, 5_000);
});

test('a hold the mesh ended early still re-runs placement at the lost period, when unheard nodes turn lost', async () => {
  const { workloads } = await freshAgent(800);
  workloads.meshHeard();
  await waitFor('the first plan', () => workloads.placement.localPlan() !== undefined);
  const schedule = vi.spyOn(workloads.placement, 'schedule');
  await waitFor('placement to run again at the lost period', () => schedule.mock.calls.length > 0, 5_000);
});
