/**
 * The reconciler's bounds and edge cases, over real processes: the exec driver wrapped to count, slow down or
 * refuse calls. The plain lifecycle is in test/e2e/reconciler-exec.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobSpecInput } from '../../../src/crdt/job-spec.js';
import type { AllocStatus } from '../../../src/crdt/records.js';
import type { Driver, DriverName, ExecTaskSpec, TaskHandle } from '../../../src/node/drivers/driver.js';
import { ExecDriver } from '../../../src/node/drivers/exec-driver.js';
import { AllocEvents } from '../../../src/node/workloads/alloc-events.js';
import { Reconciler, type ReconcilerOptions } from '../../../src/node/workloads/reconciler.js';
import { desiredAlloc, shJobSpec, startPlan } from '../../support/reconciler.js';

const SELF = 'peer-self';
const jobSpec = shJobSpec;
const desired = (job: string, slot: number) => desiredAlloc(job, slot, SELF);
const NODE_NAME = 'gate-1';
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The real exec driver, with starts that can be slowed or held, lists that can fail, and counters. */
class InstrumentedExec extends ExecDriver {
  starts: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  startDelayMs = 0;
  hold: Set<string> = new Set();
  listFails = false;

  override async start(task: ExecTaskSpec): Promise<TaskHandle> {
    this.starts.push(task.allocId);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.hold.has(task.allocId)) await new Promise(() => {});
      await sleep(this.startDelayMs);
      return await super.start(task);
    } finally {
      this.inFlight--;
    }
  }

  override async list(): Promise<TaskHandle[]> {
    if (this.listFails) throw new Error('engine not answering');
    return super.list();
  }
}

async function until(probe: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

async function setup(script = 'exec sleep 60', extra: Partial<JobSpecInput> = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'mycel-reconciler-'));
  const spec = jobSpec({ script, ...extra });
  const reports: AllocStatus[] = [];
  const drivers: InstrumentedExec[] = [];
  const reconcilers: Reconciler[] = [];
  const make = (overrides: Partial<ReconcilerOptions> = {}) => {
    const driver = new InstrumentedExec({ owner: SELF, dataDir });
    drivers.push(driver);
    const reconciler = new Reconciler({
      self: SELF,
      selfName: NODE_NAME,
      drivers: new Map<DriverName, Driver>([['exec', driver]]),
      resolveSpec: (job, version) => (job === spec.name && version === 1 ? spec : undefined),
      report: (status) => reports.push(status),
      now: Date.now,
      log: pino({ level: 'silent' }),
      pollMs: 50,
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
  const states = (id: string) => reports.filter((s) => s.allocId === id).map((s) => s.state);
  return { spec, reports, make, states };
}

describe('reconciler: reporting', () => {
  it('a status the state refused is not taken as reported: the next transition writes it again', async () => {
    const { reports, make } = await setup();
    let refuse = false;
    const { reconciler } = make({
      report: (status) => {
        if (refuse) throw new RangeError('refused');
        reports.push(status);
      },
    });
    const a = desired('web', 0);
    refuse = true;
    await reconciler.apply(startPlan(a));
    expect(reconciler.status(a.allocId)?.state).toBe('running');
    expect(reports).toEqual([]);
    refuse = false;
    const live = { ...a, state: 'running' as const, health: 'unknown' as const, startedAt: 0, restarts: 0 };
    await reconciler.apply({ start: [], stop: [live], keep: [] });
    // The whole status, not a delta from what was refused.
    expect(reports).toEqual([expect.objectContaining({ allocId: a.allocId, state: 'complete', job: 'web' })]);
    expect(reconciler.status(a.allocId)?.state).toBe('complete');
  });
});

describe('reconciler: bounds and serialisation', () => {
  it('runs at most maxConcurrentCalls driver starts at once', async () => {
    const { make } = await setup();
    const { driver, reconciler } = make({ maxConcurrentCalls: 4 });
    driver.startDelayMs = 100;
    await reconciler.start();
    const allocs = Array.from({ length: 10 }, (_, slot) => desired('web', slot));
    await reconciler.apply(startPlan(...allocs));
    expect(driver.starts.sort()).toEqual(allocs.map((a) => a.allocId).sort());
    expect(driver.maxInFlight).toBe(4);
    expect((await driver.list()).filter((h) => h.state === 'running')).toHaveLength(10);
  });

  it('a newer plan replaces one still waiting; every caller waits for the newest', async () => {
    const { make } = await setup();
    const { driver, reconciler } = make();
    driver.startDelayMs = 200;
    await reconciler.start();
    const [a, b, c] = [desired('web', 0), desired('web', 1), desired('web', 2)];
    const first = reconciler.apply(startPlan(a));
    await until(() => driver.starts.length === 1);
    const superseded = reconciler.apply(startPlan(b));
    const newest = reconciler.apply(startPlan(c));
    await Promise.all([first, superseded, newest]);
    expect(driver.starts).toEqual([a.allocId, c.allocId]);
    expect(reconciler.status(c.allocId)?.state).toBe('running');
    expect(reconciler.status(b.allocId)).toBeUndefined();
  });

  it('a start that hangs past its deadline counts as a failure toward the restart policy', async () => {
    const { make, reports } = await setup('exec sleep 60', {
      restart: { attempts: 1, interval: '10s', delay: '0', mode: 'fail' },
    });
    const { driver, reconciler } = make({ startTimeoutMs: 150 });
    const a = desired('web', 0);
    driver.hold.add(a.allocId);
    await reconciler.start();
    await reconciler.apply(startPlan(a));
    expect(reconciler.status(a.allocId)).toMatchObject({
      state: 'pending',
      restarts: 1,
      lastError: `start failed: start ${a.allocId} took over 150 ms`,
    });
    driver.hold.clear();
    await until(() => reconciler.status(a.allocId)?.state === 'running');
    expect(reports.map((s) => s.state)).toEqual(['pending', 'starting', 'pending', 'starting', 'running']);
  });

  it('close() abandons a hanging start at once and reports no failure for it', async () => {
    const { make, states } = await setup();
    const { driver, reconciler } = make();
    const a = desired('web', 0);
    driver.hold.add(a.allocId);
    await reconciler.start();
    const applied = reconciler.apply(startPlan(a));
    await until(() => driver.starts.length === 1);
    const began = Date.now();
    await reconciler.close();
    await applied;
    expect(Date.now() - began).toBeLessThan(1_000);
    expect(states(a.allocId)).toEqual(['pending', 'starting']);
  });

  it('restarts a process killed from outside, reporting the signal as its exit code', async () => {
    const { make, states } = await setup('exec sleep 60', {
      restart: { attempts: 3, interval: '10s', delay: '0', mode: 'fail' },
    });
    const { driver, reconciler } = make();
    await reconciler.start();
    const a = desired('web', 0);
    await reconciler.apply(startPlan(a));
    const [before] = await driver.list();
    process.kill(Number(before?.ref.split(':')[0]), 'SIGKILL');
    await until(
      () => reconciler.status(a.allocId)?.restarts === 1 && reconciler.status(a.allocId)?.state === 'running',
    );
    expect(reconciler.status(a.allocId)?.lastError).toBe('exited with code 137');
    const [after] = await driver.list();
    expect(after?.ref).not.toBe(before?.ref);
    expect(states(a.allocId)).toEqual(['pending', 'starting', 'running', 'pending', 'starting', 'running']);
  });

  it('adopts through a keep what it could not list at start-up, without restarting it', async () => {
    const { make, reports } = await setup();
    const first = make();
    await first.reconciler.start();
    const a = desired('web', 0);
    await first.reconciler.apply(startPlan(a));
    const [before] = await first.driver.list();
    const written = [...reports];
    await first.reconciler.close();

    const second = make();
    second.driver.listFails = true;
    await second.reconciler.start(written);
    expect(second.reconciler.status(a.allocId)).toBeUndefined();
    second.driver.listFails = false;
    await second.reconciler.apply({ start: [], stop: [], keep: [a] });
    const [after] = await second.driver.list();
    expect([after?.ref, after?.startedAt]).toEqual([before?.ref, before?.startedAt]);
    expect(second.reconciler.status(a.allocId)).toMatchObject({
      state: 'running',
      startedAt: before?.startedAt,
    });
  });

  it('never starts a kept copy whose node status is unknown', async () => {
    const { make } = await setup();
    const { driver, reconciler } = make();
    await reconciler.start();
    await reconciler.apply({ start: [], stop: [], keep: [{ ...desired('web', 0), status: 'unknown' }] });
    expect(driver.starts).toEqual([]);
  });

  it('stops what a stale record says runs here, and corrects the record', async () => {
    const { make, reports } = await setup();
    const { reconciler } = make();
    await reconciler.start();
    const a = desired('web', 0);
    const stale = { ...a, state: 'running' as const, health: 'healthy' as const, startedAt: 5, restarts: 2 };
    await reconciler.apply({ start: [], stop: [stale], keep: [] });
    expect(reports).toEqual([
      {
        allocId: a.allocId,
        job: 'web',
        jobVersion: 1,
        node: SELF,
        state: 'complete',
        health: 'healthy',
        startedAt: 5,
        restarts: 2,
      },
    ]);
    expect(reconciler.events(a.allocId).map((e) => e.kind)).toEqual(['stopped']);
  });

  it('keeps working when report() throws, and fails an alloc whose job it cannot resolve', async () => {
    const { make } = await setup();
    const { driver, reconciler } = make({
      report: () => {
        throw new Error('state store closed');
      },
    });
    await reconciler.start();
    const a = desired('web', 0);
    const unknown = desired('ghost', 0);
    await reconciler.apply(startPlan(a, unknown));
    expect(reconciler.status(a.allocId)?.state).toBe('running');
    expect(reconciler.status(unknown.allocId)).toMatchObject({
      state: 'failed',
      lastError: 'job ghost version 1 is not known on this node',
    });
    expect((await driver.list()).map((h) => h.allocId)).toEqual([a.allocId]);
  });

  it('persists the state before every start, restarts included, so a crash never forgets what runs', async () => {
    const { make, reports } = await setup('sleep 0.2; exit 1', {
      restart: { attempts: 1, interval: '1m', delay: '0s', mode: 'fail' },
    });
    const log: string[] = [];
    let release: () => void = () => {};
    const { driver, reconciler } = make({
      // The first persist is held: the driver must not be asked to start until it is done.
      persist: () => {
        log.push(`persist after ${reports.at(-1)?.state}/${reports.at(-1)?.restarts}`);
        return log.length === 1 ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
      },
    });
    const start = driver.start.bind(driver);
    driver.start = (task) => {
      log.push('start');
      return start(task);
    };
    await reconciler.start();
    const a = desired('web', 0);
    const applied = reconciler.apply(startPlan(a));
    await until(() => log.length === 1);
    await sleep(100);
    expect(log).toEqual(['persist after starting/0']);
    release();
    await applied;
    await until(() => reconciler.status(a.allocId)?.state === 'failed');
    expect(log).toEqual(['persist after starting/0', 'start', 'persist after starting/1', 'start']);
  });

  it('a persist that fails is logged and the workload starts anyway', async () => {
    const { make } = await setup();
    const { reconciler } = make({ persist: () => Promise.reject(new Error('disk full')) });
    await reconciler.start();
    const a = desired('web', 0);
    await reconciler.apply(startPlan(a));
    expect(reconciler.status(a.allocId)?.state).toBe('running');
  });
});

describe('alloc events ring', () => {
  it('keeps the newest events per alloc and forgets the alloc touched longest ago', () => {
    const ring = new AllocEvents({ perAlloc: 3, maxAllocs: 2 });
    for (let at = 0; at < 5; at++) ring.record('a', 'exited', at, `run ${at}`);
    ring.record('b', 'placed', 10);
    expect(ring.list('a').map((e) => e.at)).toEqual([2, 3, 4]);
    ring.record('a', 'failed', 11, 'gave up');
    ring.record('c', 'placed', 12);
    expect(ring.list('b')).toEqual([]);
    expect(ring.list('a').at(-1)).toEqual({ at: 11, kind: 'failed', reason: 'gave up' });
    expect(ring.list('c')).toEqual([{ at: 12, kind: 'placed' }]);
  });
});

describe('reconciler: verdicts for rollouts', () => {
  const checked = (command: string[], update: JobSpecInput['update']) => ({
    health: { type: 'exec' as const, command, interval: '1s' },
    update,
    restart: { attempts: 2, interval: '10s', delay: '0', mode: 'fail' as const },
  });

  it('judges a copy healthy once its checks have passed for minHealthyTime, and never again', async () => {
    const { make, reports } = await setup(
      'exec sleep 60',
      checked(['true'], { minHealthyTime: '300ms', healthyDeadline: '10s' }),
    );
    const { reconciler } = make({ healthIntervalScale: 0.05 });
    await reconciler.start();
    const a = desired('web', 0);
    await reconciler.apply(startPlan(a));
    await until(() => reconciler.status(a.allocId)?.verdict !== undefined);
    const verdict = reconciler.status(a.allocId)?.verdict;
    const firstHealthy = reconciler.events(a.allocId).find((e) => e.kind === 'healthy');
    expect(verdict).toMatchObject({ healthy: true });
    expect(verdict!.at - firstHealthy!.at).toBeGreaterThanOrEqual(300);
    // Only the report that wrote it carries a new verdict; earlier ones have none.
    await sleep(300);
    const withVerdict = reports.filter((r) => r.allocId === a.allocId && r.verdict !== undefined);
    expect(new Set(withVerdict.map((r) => JSON.stringify(r.verdict)))).toEqual(
      new Set([JSON.stringify(verdict)]),
    );
  });

  it('judges a copy unhealthy at its first failing check, and keeps that verdict through restarts', async () => {
    const { make } = await setup(
      'exec sleep 60',
      checked(['false'], { minHealthyTime: '0', healthyDeadline: '10s' }),
    );
    const { reconciler } = make({ healthIntervalScale: 0.05, checkRestartLimit: 1 });
    await reconciler.start();
    const a = desired('web', 0);
    await reconciler.apply(startPlan(a));
    await until(() => reconciler.status(a.allocId)?.verdict !== undefined);
    const verdict = reconciler.status(a.allocId)?.verdict;
    expect(verdict).toMatchObject({ healthy: false, reason: expect.stringMatching(/^health check failed/) });
    await until(() => reconciler.status(a.allocId)?.state === 'failed');
    expect(reconciler.status(a.allocId)?.restarts).toBe(2);
    expect(reconciler.status(a.allocId)?.verdict).toEqual(verdict);
  });

  it('judges a copy unhealthy when it exits before it is healthy', async () => {
    const { make } = await setup('exit 3', { update: { minHealthyTime: '5s', healthyDeadline: '10s' } });
    const { reconciler } = make();
    await reconciler.start();
    const a = desired('web', 0);
    await reconciler.apply(startPlan(a));
    await until(() => reconciler.status(a.allocId)?.verdict !== undefined);
    expect(reconciler.status(a.allocId)?.verdict).toMatchObject({
      healthy: false,
      reason: 'exited with code 3',
    });
  });

  it('judges a copy unhealthy when healthyDeadline passes first, counted from placement', async () => {
    const { make } = await setup('exec sleep 60', { update: { minHealthyTime: '0', healthyDeadline: '1s' } });
    const { driver, reconciler } = make();
    const a = desired('web', 0);
    driver.hold.add(a.allocId);
    await reconciler.start();
    const placed = Date.now();
    void reconciler.apply(startPlan(a));
    await until(() => reconciler.status(a.allocId)?.verdict !== undefined, 5_000);
    const verdict = reconciler.status(a.allocId)?.verdict;
    expect(verdict).toMatchObject({
      healthy: false,
      reason: 'not healthy within healthyDeadline (1000 ms)',
    });
    expect(verdict!.at - placed).toBeGreaterThanOrEqual(1_000);
    expect(reconciler.status(a.allocId)?.state).toBe('starting');
  });

  it('an agent restart adopts the verdict with the workload and never judges it again', async () => {
    const { make, reports } = await setup('exec sleep 60', {
      update: { minHealthyTime: '0', healthyDeadline: '5s' },
    });
    const first = make();
    await first.reconciler.start();
    const a = desired('web', 0);
    await first.reconciler.apply(startPlan(a));
    await until(() => first.reconciler.status(a.allocId)?.verdict !== undefined);
    const verdict = first.reconciler.status(a.allocId)!.verdict;
    await first.reconciler.close();
    const written = reports.length;

    const second = make();
    await second.reconciler.start([...reports]);
    await sleep(200);
    expect(second.reconciler.status(a.allocId)).toMatchObject({ state: 'running', verdict });
    expect(reports).toHaveLength(written);
  });

  it('without a health check, running for minHealthyTime is healthy', async () => {
    const { make } = await setup('exec sleep 60', {
      update: { minHealthyTime: '200ms', healthyDeadline: '5s' },
    });
    const { reconciler } = make();
    await reconciler.start();
    const a = desired('web', 0);
    await reconciler.apply(startPlan(a));
    const running = Date.now();
    await until(() => reconciler.status(a.allocId)?.verdict !== undefined);
    expect(reconciler.status(a.allocId)?.verdict).toMatchObject({ healthy: true });
    expect(reconciler.status(a.allocId)!.verdict!.at - running).toBeGreaterThanOrEqual(190);
  });
});
