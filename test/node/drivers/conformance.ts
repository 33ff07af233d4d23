/**
 * What every driver promises the reconciler (src/node/drivers/driver.ts), as one test body each driver runs
 * against its real runtime: Docker Engine, the process table, the simulator's runtime. Workloads are described
 * by what they do (write lines, exit or run on); a driver over a real runtime runs them as `sh` scripts, the
 * simulator acts them out through its runtime.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  Driver,
  DriverName,
  LogLine,
  TaskHandle,
  TaskSpecFor,
} from '../../../src/node/drivers/driver.js';
import { DriverError } from '../../../src/node/drivers/driver-error.js';

export interface Behaviour {
  readonly stdout?: readonly string[];
  readonly stderr?: readonly string[];
  /** Exit with this code once written; run on until stopped when absent. */
  readonly exitCode?: number;
}

export interface ConformanceHarness<K extends DriverName> {
  /** A driver for `owner`. Two drivers for one owner see the same workloads, as an agent and its restart do. */
  driver(owner: string): Driver<K>;
  /** The task for `allocId` at `jobVersion` (1 when absent) that does what `behaviour` says. */
  task(allocId: string, behaviour: Behaviour, jobVersion?: number): TaskSpecFor<K>;
  /** For a runtime that runs no commands (the simulator): makes the started workload do what it says. */
  actOut?(owner: string, allocId: string, behaviour: Behaviour): void;
  /** Removes whatever the drivers left, even after a failed test. */
  cleanup(): Promise<void>;
}

/** The `sh -c` script for a behaviour: stderr first, a pause so a runtime that merges streams keeps order. */
export function scriptFor(b: Behaviour): string {
  const print = (lines: readonly string[] | undefined, redirect: string) =>
    lines?.length ? [`printf '%s\\n' ${lines.join(' ')}${redirect}`] : [];
  const steps = [
    ...print(b.stderr, ' >&2'),
    ...(b.stderr?.length && b.stdout?.length ? ['sleep 0.2'] : []),
    ...print(b.stdout, ''),
    b.exitCode === undefined ? 'exec sleep 600' : `exit ${b.exitCode}`,
  ];
  return steps.join('; ');
}

const RUN_ON: Behaviour = {};

async function until<T>(probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(25);
  }
}

async function collect(lines: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

async function rejection(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

export interface ConformanceOptions {
  /** Whether `exec` runs the command; the simulator passes every check without running it. */
  readonly runsCommands: boolean;
}

export function driverConformance<K extends DriverName>(
  name: string,
  makeHarness: () => Promise<ConformanceHarness<K>>,
  options: ConformanceOptions,
): void {
  describe(`driver conformance: ${name}`, () => {
    let h: ConformanceHarness<K>;
    let owner: string;

    beforeEach(async () => {
      h = await makeHarness();
      owner = `conf-${randomUUID().slice(0, 8)}`;
    });

    afterEach(async () => {
      await h.cleanup();
    });

    const allocOf = () => `c-${randomUUID().slice(0, 12)}`;

    async function start(driver: Driver<K>, allocId: string, b: Behaviour, version = 1) {
      const handle = await driver.start(h.task(allocId, b, version));
      h.actOut?.(owner, allocId, b);
      return handle;
    }

    async function exited(driver: Driver<K>, allocId: string): Promise<TaskHandle> {
      return until(async () => {
        const found = await driver.inspect(allocId);
        return found?.state === 'exited' ? found : undefined;
      });
    }

    it('starts a task and reports it running, by inspect and by list', async () => {
      const driver = h.driver(owner);
      const allocId = allocOf();
      const before = Date.now();
      const handle = await start(driver, allocId, RUN_ON);
      const after = Date.now();
      expect(handle).toMatchObject({
        allocId,
        job: 'web',
        jobVersion: 1,
        driver: driver.name,
        state: 'running',
      });
      expect(handle.ref).not.toBe('');
      expect(handle.startedAt).toBeGreaterThanOrEqual(before - 1_000);
      expect(handle.startedAt).toBeLessThanOrEqual(after + 1_000);
      expect(await driver.inspect(allocId)).toEqual(handle);
      expect(await driver.list()).toEqual([handle]);
    });

    it('adopts instead of restarting: the same alloc and version again, also from a new driver (agent restart)', async () => {
      const driver = h.driver(owner);
      const allocId = allocOf();
      const first = await start(driver, allocId, RUN_ON);
      const again = await driver.start(h.task(allocId, RUN_ON));
      expect([again.ref, again.startedAt, again.state]).toEqual([first.ref, first.startedAt, 'running']);
      const restarted = h.driver(owner);
      expect(await restarted.list()).toEqual([first]);
      const adopted = await restarted.start(h.task(allocId, RUN_ON));
      expect([adopted.ref, adopted.startedAt]).toEqual([first.ref, first.startedAt]);
      await restarted.close();
    });

    it('replaces the workload when the alloc is started at another job version', async () => {
      const driver = h.driver(owner);
      const allocId = allocOf();
      const first = await start(driver, allocId, RUN_ON, 1);
      const second = await start(driver, allocId, RUN_ON, 2);
      expect(second).toMatchObject({ allocId, jobVersion: 2, state: 'running' });
      expect(second.ref).not.toBe(first.ref);
      expect((await driver.list()).map((x) => [x.ref, x.jobVersion])).toEqual([[second.ref, 2]]);
    });

    it("sees and touches only its own owner's workloads", async () => {
      const driver = h.driver(owner);
      const stranger = h.driver(`${owner}-other`);
      const allocId = allocOf();
      const handle = await start(driver, allocId, RUN_ON);
      expect(await stranger.list()).toEqual([]);
      expect(await stranger.inspect(allocId)).toBeUndefined();
      await stranger.stop(allocId, { graceMs: 100 });
      expect(await driver.inspect(allocId)).toMatchObject({ ref: handle.ref, state: 'running' });
      await stranger.close();
    });

    it('stops a workload and forgets it; stopping it again or an alloc never started is no error', async () => {
      const driver = h.driver(owner);
      const allocId = allocOf();
      const kept = allocOf();
      await start(driver, allocId, RUN_ON);
      const other = await start(driver, kept, RUN_ON);
      await driver.stop(allocId, { graceMs: 500 });
      expect(await driver.inspect(allocId)).toBeUndefined();
      expect(await driver.stats(allocId)).toBeUndefined();
      expect(await driver.list()).toEqual([other]);
      await driver.stop(allocId, { graceMs: 500 });
      await driver.stop(allocOf(), { graceMs: 500 });
      expect(await driver.list()).toEqual([other]);
    });

    it('keeps a finished workload listed as exited, with its exit code, until it is stopped', async () => {
      const driver = h.driver(owner);
      const allocId = allocOf();
      const started = await start(driver, allocId, { exitCode: 3 });
      const done = await exited(driver, allocId);
      expect(done).toMatchObject({ allocId, ref: started.ref, state: 'exited', exitCode: 3 });
      expect(await driver.list()).toEqual([done]);
      expect(await driver.stats(allocId)).toBeUndefined();
      await driver.stop(allocId, { graceMs: 100 });
      expect(await driver.list()).toEqual([]);
    });

    it("keeps a finished workload's logs and exit code, also for a new driver (agent restart), until it is stopped", async () => {
      // What `meshctl alloc logs` reads of a batch copy that is complete: the reconciler leaves the exited
      // workload to the finished-copy GC, whose removal is the driver's stop.
      const driver = h.driver(owner);
      const allocId = allocOf();
      await start(driver, allocId, { stdout: ['result-42'], exitCode: 0 });
      await exited(driver, allocId);
      const restarted = h.driver(owner);
      expect(await restarted.inspect(allocId)).toMatchObject({ allocId, state: 'exited', exitCode: 0 });
      expect(await collect(restarted.logs(allocId))).toEqual([{ stream: 'stdout', line: 'result-42' }]);
      await restarted.stop(allocId, { graceMs: 100 });
      expect(await driver.inspect(allocId)).toBeUndefined();
      const gone = await rejection(() => collect(driver.logs(allocId)));
      expect((gone as DriverError).code).toBe('not-found');
      await restarted.close();
    });

    it('gives each stream its lines in order, one stream on request, and the last lines with tail', async () => {
      const driver = h.driver(owner);
      const allocId = allocOf();
      await start(driver, allocId, { stderr: ['oops'], stdout: ['one', 'two', 'three'], exitCode: 0 });
      await exited(driver, allocId);
      const all = await collect(driver.logs(allocId));
      expect(all.filter((l) => l.stream === 'stdout').map((l) => l.line)).toEqual(['one', 'two', 'three']);
      expect(all.filter((l) => l.stream === 'stderr').map((l) => l.line)).toEqual(['oops']);
      expect(await collect(driver.logs(allocId, { stream: 'stderr' }))).toEqual([
        { stream: 'stderr', line: 'oops' },
      ]);
      expect(await collect(driver.logs(allocId, { stream: 'stdout', tail: 2 }))).toEqual([
        { stream: 'stdout', line: 'two' },
        { stream: 'stdout', line: 'three' },
      ]);
      // A follow of a workload that has ended ends after its last line.
      const followed = await collect(driver.logs(allocId, { stream: 'stdout', follow: true }));
      expect(followed.map((l) => l.line)).toEqual(['one', 'two', 'three']);
    });

    it('reads the logs of a running workload without stopping it', async () => {
      const driver = h.driver(owner);
      const allocId = allocOf();
      await start(driver, allocId, { stdout: ['ready'] });
      const lines = await until(async () => {
        const got = await collect(driver.logs(allocId));
        return got.length > 0 ? got : undefined;
      });
      expect(lines).toEqual([{ stream: 'stdout', line: 'ready' }]);
      expect(await driver.inspect(allocId)).toMatchObject({ state: 'running' });
    });

    // A driver that runs no commands (the simulator's) has no such test, rather than a skipped one.
    if (options.runsCommands)
      it('runs a command in the workload, with its exit code and output', async () => {
        const driver = h.driver(owner);
        const allocId = allocOf();
        await start(driver, allocId, RUN_ON);
        expect(await driver.exec(allocId, ['sh', '-c', 'echo here; exit 4'])).toEqual({
          exitCode: 4,
          output: 'here\n',
        });
        expect(await driver.exec(allocId, ['true'])).toEqual({ exitCode: 0, output: '' });
      });

    it('answers calls about an alloc it does not run: nothing from inspect and stats, not-found from logs and exec', async () => {
      const driver = h.driver(owner);
      const allocId = allocOf();
      expect(await driver.inspect(allocId)).toBeUndefined();
      expect(await driver.stats(allocId)).toBeUndefined();
      const logs = await rejection(() => collect(driver.logs(allocId)));
      expect(logs).toBeInstanceOf(DriverError);
      expect((logs as DriverError).code).toBe('not-found');
      const exec = await rejection(() => driver.exec(allocId, ['true']));
      expect(exec).toBeInstanceOf(DriverError);
      expect((exec as DriverError).code).toBe('not-found');
    });

    it('measures a running workload', async () => {
      const driver = h.driver(owner);
      const allocId = allocOf();
      await start(driver, allocId, RUN_ON);
      const stats = await driver.stats(allocId);
      expect(stats?.cpuSeconds).toBeGreaterThanOrEqual(0);
      expect(stats?.memoryBytes).toBeGreaterThanOrEqual(0);
    });
  });
}
