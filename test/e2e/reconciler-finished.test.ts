/**
 * Finished copies over real processes (exec driver): a batch copy that ends keeps its logs and its exit code in
 * the status until the finished-copy GC (finished-gc.ts) removes it, by count or by age; an agent restart
 * adopts it as finished instead of judging it again. The workload also sees who runs it (MYCEL_NODE*).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobSpec } from '../../src/crdt/job-spec.js';
import type { AllocStatus } from '../../src/crdt/records.js';
import type { Driver, DriverName, LogLine } from '../../src/node/drivers/driver.js';
import { ExecDriver } from '../../src/node/drivers/exec-driver.js';
import { Reconciler, type ReconcilerOptions } from '../../src/node/workloads/reconciler.js';
import { desiredAlloc, shJobSpec, startPlan } from '../support/reconciler.js';

const SELF = 'peer-self';
const NODE_NAME = 'gate-1';
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function until<T>(probe: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

async function lines(logs: AsyncIterable<LogLine>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of logs) out.push(l.line);
  return out;
}

/** An exec driver whose first `stops` stop calls fail, as a busy engine's would. */
class FailingStops extends ExecDriver {
  stops = 0;
  override async stop(...args: Parameters<ExecDriver['stop']>): Promise<void> {
    if (this.stops-- > 0) throw new Error('engine busy');
    return super.stop(...args);
  }
}

async function setup(spec: JobSpec) {
  const dataDir = await mkdtemp(join(tmpdir(), 'mycel-finished-'));
  const reports: AllocStatus[] = [];
  const reconcilers: Reconciler[] = [];
  const driver = new FailingStops({ owner: SELF, dataDir });
  const make = (overrides: Partial<ReconcilerOptions> = {}) => {
    const reconciler = new Reconciler({
      self: SELF,
      selfName: NODE_NAME,
      drivers: new Map<DriverName, Driver>([['exec', driver]]),
      resolveSpec: (job) => (job === spec.name ? spec : undefined),
      report: (status) => reports.push(status),
      now: Date.now,
      log: pino({ level: 'silent' }),
      pollMs: 50,
      stopGraceMs: 500,
      ...overrides,
    });
    reconcilers.push(reconciler);
    return reconciler;
  };
  cleanups.push(async () => {
    for (const r of reconcilers) await r.close();
    for (const h of await driver.list()) await driver.stop(h.allocId, { graceMs: 100 }).catch(() => {});
    await driver.close();
    await rm(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  });
  const last = (allocId: string) => reports.filter((s) => s.allocId === allocId).at(-1);
  return { driver, make, reports, last };
}

const batch = (script: string) =>
  shJobSpec({ name: 'once', type: 'batch', script, restart: { attempts: 0, mode: 'fail' } });
const slot = (n: number) => desiredAlloc('once', n, SELF);

describe('finished copies (exec driver)', () => {
  it('a complete batch copy keeps its logs and reports exit code 0; a restart adopts it as finished', async () => {
    const { driver, make, last, reports } = await setup(batch('echo "ran on $MYCEL_NODE as $MYCEL_NODE_ID"'));
    const first = make();
    await first.start();
    const a = slot(0);
    const before = Date.now();
    await first.apply(startPlan(a));
    await until(() => last(a.allocId)?.state === 'complete');
    expect(last(a.allocId)).toMatchObject({ state: 'complete', exitCode: 0 });
    expect(last(a.allocId)?.finishedAt).toBeGreaterThanOrEqual(before);
    await sleep(200);
    expect(await driver.inspect(a.allocId)).toMatchObject({ state: 'exited', exitCode: 0 });
    expect(await lines(driver.logs(a.allocId))).toEqual([`ran on ${NODE_NAME} as ${SELF}`]);

    // An agent restart: the exited copy is adopted as finished, written again by nobody and run by nobody.
    await first.close();
    const written = reports.length;
    const second = make();
    await second.start([last(a.allocId)!]);
    await second.apply({ start: [], stop: [], keep: [] });
    await sleep(300);
    expect(reports.length).toBe(written);
    expect(second.status(a.allocId)).toMatchObject({ state: 'complete', exitCode: 0 });
    expect(await lines(driver.logs(a.allocId))).toEqual([`ran on ${NODE_NAME} as ${SELF}`]);
  });

  it('a failed copy keeps its logs and reports its exit code', async () => {
    const { driver, make, last } = await setup(batch('echo broken >&2; exit 3'));
    const reconciler = make();
    await reconciler.start();
    const a = slot(0);
    await reconciler.apply(startPlan(a));
    await until(() => last(a.allocId)?.state === 'failed');
    expect(last(a.allocId)).toMatchObject({ state: 'failed', exitCode: 3 });
    await sleep(200);
    expect(await lines(driver.logs(a.allocId))).toEqual(['broken']);
  });

  it('removes the oldest finished copies of a job past the count limit', async () => {
    const { driver, make, last } = await setup(batch('echo done'));
    const reconciler = make({ finishedGc: { maxPerJob: 1 } });
    await reconciler.start();
    const [a, b] = [slot(0), slot(1)];
    await reconciler.apply(startPlan(a));
    await until(() => last(a.allocId)?.state === 'complete');
    await reconciler.apply(startPlan(b));
    await until(() => last(b.allocId)?.state === 'complete');
    // The runner is forgotten once the driver's remains are gone.
    await until(() => reconciler.status(a.allocId) === undefined);
    expect(await driver.inspect(a.allocId)).toBeUndefined();
    expect(await lines(driver.logs(b.allocId))).toEqual(['done']);
    // The replicated status stays: placement reads it to know the slot is done.
    expect(last(a.allocId)).toMatchObject({ state: 'complete', exitCode: 0 });
  });

  it('removes a finished copy once it is older than the age limit', async () => {
    const { driver, make, last } = await setup(batch('echo done'));
    const reconciler = make({ finishedGc: { maxAgeMs: 1_500 } });
    await reconciler.start();
    const a = slot(0);
    await reconciler.apply(startPlan(a));
    await until(() => last(a.allocId)?.state === 'complete');
    expect(await driver.inspect(a.allocId)).toMatchObject({ state: 'exited' });
    await until(async () => (await driver.inspect(a.allocId)) === undefined || undefined, 5_000);
  });

  it('tries a removal the driver failed again at the next poll', async () => {
    const { driver, make, last } = await setup(batch('echo done'));
    const reconciler = make({ finishedGc: { maxAgeMs: 300 } });
    await reconciler.start();
    driver.stops = 2;
    const a = slot(0);
    await reconciler.apply(startPlan(a));
    await until(() => last(a.allocId)?.state === 'complete');
    // The event follows the driver's stop: wait for it, not for the workload to vanish.
    await until(() => reconciler.events(a.allocId).at(-1)?.kind === 'removed', 5_000);
    expect(await driver.inspect(a.allocId)).toBeUndefined();
    expect(driver.stops).toBeLessThan(0);
  });
});
