/**
 * The reconciler's lifecycle over real processes: the exec driver, real exits, real health checks.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobSpec } from '../../src/crdt/job-spec.js';
import type { AllocStatus } from '../../src/crdt/records.js';
import type { Driver, DriverName } from '../../src/node/drivers/driver.js';
import { ExecDriver } from '../../src/node/drivers/exec-driver.js';
import { Reconciler, type ReconcilerOptions } from '../../src/node/workloads/reconciler.js';
import type { DesiredAlloc, SchedAllocation } from '../../src/scheduler/types.js';
import { desiredAlloc, shJobSpec, startPlan } from '../support/reconciler.js';

const SELF = 'peer-self';
const jobSpec = shJobSpec;
const desired = (spec: JobSpec, slot: number) => desiredAlloc(spec.name, slot, SELF);
const NODE_NAME = 'gate-1';
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function asActual(d: DesiredAlloc): SchedAllocation {
  return { ...d, state: 'running', health: 'unknown', startedAt: 0, restarts: 0 };
}

async function until<T>(probe: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

async function setup() {
  const dataDir = await mkdtemp(join(tmpdir(), 'mycel-reconciler-'));
  const specs = new Map<string, JobSpec>();
  const reports: AllocStatus[] = [];
  const drivers: ExecDriver[] = [];
  const reconcilers: Reconciler[] = [];
  const make = (overrides: Partial<ReconcilerOptions> = {}) => {
    const driver = new ExecDriver({ owner: SELF, dataDir });
    drivers.push(driver);
    const reconciler = new Reconciler({
      self: SELF,
      selfName: NODE_NAME,
      drivers: new Map<DriverName, Driver>([['exec', driver]]),
      resolveSpec: (job) => specs.get(job),
      report: (status) => reports.push(status),
      now: Date.now,
      log: pino({ level: 'silent' }),
      pollMs: 50,
      healthIntervalScale: 0.05,
      stopGraceMs: 500,
      ...overrides,
    });
    reconcilers.push(reconciler);
    return { driver, reconciler };
  };
  cleanups.push(async () => {
    for (const r of reconcilers) await r.close();
    // A driver that spawned a process records its exit into the directory another driver may be removing.
    for (const d of drivers.reverse()) {
      for (const h of await d.list()) await d.stop(h.allocId, { graceMs: 100 }).catch(() => {});
      await d.close();
    }
    await rm(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  });
  /** `state/health/restarts` of every status reported for the alloc, in order. */
  const sequence = (id: string) =>
    reports.filter((s) => s.allocId === id).map((s) => `${s.state}/${s.health}/${s.restarts}`);
  return { dataDir, specs, reports, make, sequence };
}

const lines = async (path: string) =>
  (await readFile(path, 'utf8').catch(() => '')).split('\n').filter(Boolean);

describe('reconciler with the exec driver', () => {
  it('starts each alloc of a plan exactly once when apply() is called three times concurrently', async () => {
    const { dataDir, specs, make, sequence } = await setup();
    const marks = join(dataDir, 'starts');
    const spec = jobSpec({ script: `echo "$MYCEL_ALLOC_ID" >> ${marks}; exec sleep 60` });
    specs.set('web', spec);
    const { driver, reconciler } = make();
    await reconciler.start();
    const a = desired(spec, 0);
    const b = desired(spec, 1);
    const plan = startPlan(a, b);
    await Promise.all([reconciler.apply(plan), reconciler.apply(plan), reconciler.apply(plan)]);
    await reconciler.apply(plan);

    await until(async () => (await lines(marks)).length === 2);
    await sleep(200);
    expect((await lines(marks)).sort()).toEqual([a.allocId, b.allocId].sort());
    const handles = await driver.list();
    expect(handles.map((h) => [h.allocId, h.state]).sort()).toEqual([
      [a.allocId, 'running'],
      [b.allocId, 'running'],
    ]);
    for (const id of [a.allocId, b.allocId]) {
      expect(sequence(id)).toEqual(['pending/unknown/0', 'starting/unknown/0', 'running/unknown/0']);
      expect(reconciler.events(id).map((e) => e.kind)).toEqual(['placed', 'started']);
    }
    const running = reconciler.status(a.allocId);
    expect(running).toMatchObject({ node: SELF, job: 'web', jobVersion: 1, state: 'running' });
    expect(running?.startedAt).toBe(handles.find((h) => h.allocId === a.allocId)?.startedAt);
  });

  it('a new reconciler adopts running processes without restarting them and writes nothing new', async () => {
    const { dataDir, specs, reports, make, sequence } = await setup();
    const marks = join(dataDir, 'starts');
    const spec = jobSpec({ script: `echo x >> ${marks}; exec sleep 60` });
    specs.set('web', spec);
    const first = make();
    await first.reconciler.start();
    const a = desired(spec, 0);
    await first.reconciler.apply(startPlan(a));
    const before = await first.driver.list();
    const written = [...reports];
    await first.reconciler.close();

    // The agent restarts: new driver, new reconciler, the statuses it wrote before.
    const second = make();
    await second.reconciler.start(written);
    expect(reports).toEqual(written);
    expect(second.reconciler.status(a.allocId)).toEqual(written.at(-1));
    expect(second.reconciler.events(a.allocId).map((e) => e.kind)).toEqual(['adopted']);
    // The plan computed after the restart keeps it; applying it starts nothing.
    await second.reconciler.apply({ start: [], stop: [], keep: [a] });
    const after = await second.driver.list();
    expect(after.map((h) => [h.ref, h.startedAt, h.state])).toEqual(
      before.map((h) => [h.ref, h.startedAt, 'running']),
    );

    // Without its earlier statuses (they were lost), adoption reports running once, at the original start time.
    await second.reconciler.close();
    const third = make();
    await third.reconciler.start();
    expect(reports.slice(written.length)).toEqual([written.at(-1)]);
    expect(sequence(a.allocId)).toEqual([
      'pending/unknown/0',
      'starting/unknown/0',
      'running/unknown/0',
      'running/unknown/0',
    ]);
    await sleep(200);
    expect(await lines(marks)).toHaveLength(1);
    expect((await third.driver.list()).map((h) => h.ref)).toEqual(before.map((h) => h.ref));
  });

  it('restarts an exiting process per its policy and fails with the reason after the attempts', async () => {
    const { dataDir, specs, make, sequence, reports } = await setup();
    const marks = join(dataDir, 'runs');
    const spec = jobSpec({
      script: `echo run >> ${marks}; sleep 0.1; exit 3`,
      restart: { attempts: 2, interval: '10s', delay: '100ms', mode: 'fail' },
    });
    specs.set('web', spec);
    const { driver, reconciler } = make();
    await reconciler.start();
    const a = desired(spec, 0);
    const started = Date.now();
    await reconciler.apply(startPlan(a));
    await until(() => reconciler.status(a.allocId)?.state === 'failed');

    expect(sequence(a.allocId)).toEqual([
      'pending/unknown/0',
      'starting/unknown/0',
      'running/unknown/0',
      'pending/unknown/1',
      'starting/unknown/1',
      'running/unknown/1',
      'pending/unknown/2',
      'starting/unknown/2',
      'running/unknown/2',
      'failed/unknown/2',
    ]);
    const last = reports.at(-1);
    expect(last?.lastError).toBe(
      'exited with code 3; gave up after 2 restarts within 10s (restart mode fail)',
    );
    expect(reports.find((s) => s.restarts === 1)?.lastError).toBe('exited with code 3');
    // Backoff: 100 ms, then 200 ms, on top of three runs of 100 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(await lines(marks)).toHaveLength(3);
    expect(reconciler.events(a.allocId).map((e) => e.kind)).toEqual([
      'placed',
      'started',
      'exited',
      'restarted',
      'exited',
      'restarted',
      'failed',
    ]);
    // The finished process is kept, exited, for its logs until the finished-copy GC removes it, and a plan
    // that still lists it does not bring it back.
    expect(last?.exitCode).toBe(3);
    expect(await driver.list()).toEqual([expect.objectContaining({ state: 'exited', exitCode: 3 })]);
    await reconciler.apply(startPlan(a));
    await sleep(200);
    expect(await lines(marks)).toHaveLength(3);
  });

  it('a failing health check makes it unhealthy, and three in a row restart it', async () => {
    const { dataDir, specs, make, sequence, reports } = await setup();
    const spec = jobSpec({
      script: 'touch ok; exec sleep 60',
      health: { type: 'exec', command: ['test', '-f', 'ok'], interval: '1s', timeout: '1s' },
      restart: { attempts: 1, interval: '10s', delay: '0', mode: 'fail' },
    });
    specs.set('web', spec);
    const { reconciler, driver } = make();
    await reconciler.start();
    const a = desired(spec, 0);
    await reconciler.apply(startPlan(a));
    await until(() => reconciler.status(a.allocId)?.health === 'healthy');
    const [first] = await driver.list();
    // The exec driver runs the process and its checks in the alloc's directory.
    await rm(join(dataDir, 'alloc', a.allocId, 'ok'));
    await until(() => reconciler.status(a.allocId)?.restarts === 1);
    await until(() => reconciler.status(a.allocId)?.health === 'healthy');

    // On a loaded machine the restarted run's first check may come before its shell has touched `ok` again:
    // one failed check makes it unhealthy until the next passes, which is the rule, not a second restart.
    const settling = (s: string) => s === 'running/unhealthy/1';
    expect(sequence(a.allocId).filter((s) => !settling(s))).toEqual([
      'pending/unknown/0',
      'starting/unknown/0',
      'running/unknown/0',
      'running/healthy/0',
      'running/unhealthy/0',
      'pending/unknown/1',
      'starting/unknown/1',
      'running/unknown/1',
      'running/healthy/1',
    ]);
    expect(reports.find((s) => s.restarts === 1)?.lastError).toBe(
      'unhealthy: 3 failed checks in a row, last: exit code 1',
    );
    const [second] = await driver.list();
    expect(second?.ref).not.toBe(first?.ref);
    const kinds = reconciler.events(a.allocId).map((e) => e.kind);
    const restartedAt = kinds.indexOf('restarted');
    expect(kinds.slice(0, restartedAt + 1)).toEqual([
      'placed',
      'started',
      'healthy',
      'unhealthy',
      'exited',
      'restarted',
    ]);
    expect(kinds.slice(restartedAt + 1).filter((k) => k !== 'unhealthy')).toEqual(['healthy']);
  });

  it('stops an alloc the plan no longer wants, reports it complete, and can start it afresh', async () => {
    const { specs, make, sequence } = await setup();
    const spec = jobSpec({ script: 'exec sleep 60' });
    specs.set('web', spec);
    const { driver, reconciler } = make();
    await reconciler.start();
    const a = desired(spec, 0);
    await reconciler.apply(startPlan(a));
    const [handle] = await driver.list();
    const pid = Number(handle?.ref.split(':')[0]);

    await reconciler.apply({ start: [], stop: [asActual(a)], keep: [] });
    expect(await driver.list()).toEqual([]);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(sequence(a.allocId)).toEqual([
      'pending/unknown/0',
      'starting/unknown/0',
      'running/unknown/0',
      'complete/unknown/0',
    ]);
    // Stopping again is a no-op.
    await reconciler.apply({ start: [], stop: [asActual(a)], keep: [] });
    expect(sequence(a.allocId)).toHaveLength(4);

    await reconciler.apply(startPlan(a));
    expect((await driver.list()).map((h) => h.state)).toEqual(['running']);
    expect(sequence(a.allocId).slice(4)).toEqual([
      'pending/unknown/0',
      'starting/unknown/0',
      'running/unknown/0',
    ]);
  });

  it('a batch job that exits 0 is complete and not restarted', async () => {
    const { dataDir, specs, make, sequence } = await setup();
    const marks = join(dataDir, 'runs');
    specs.set('once', jobSpec({ name: 'once', type: 'batch', script: `echo run >> ${marks}; sleep 0.1` }));
    const { reconciler } = make();
    await reconciler.start();
    const a = desired(specs.get('once')!, 0);
    await reconciler.apply(startPlan(a));
    await until(() => reconciler.status(a.allocId)?.state === 'complete');
    await sleep(300);
    expect(sequence(a.allocId)).toEqual([
      'pending/unknown/0',
      'starting/unknown/0',
      'running/unknown/0',
      'complete/unknown/0',
    ]);
    expect(await lines(marks)).toHaveLength(1);
  });
});
