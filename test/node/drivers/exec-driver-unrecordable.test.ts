/**
 * The exec driver on a data dir that cannot take the process record (issue 16 #2): real tmpfs mounts and a
 * read-only bind, real processes. Needs root (mount), as the e2e suites do.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExecTaskSpec } from '../../../src/node/drivers/driver.js';
import { DriverError } from '../../../src/node/drivers/driver-error.js';
import { ExecDriver } from '../../../src/node/drivers/exec-driver.js';
import { processesWith } from '../../support/proc.js';
import { mountSmallDisk } from '../../support/tmpfs.js';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tmpfs(sizeKiB: number): Promise<string> {
  const disk = await mountSmallDisk(`${sizeKiB}k`);
  cleanups.push(() => disk.unmount());
  return disk.path;
}

/** Fills the file system under `dir` completely, then frees exactly `pages` pages. */
async function leavePages(dir: string, pages: number): Promise<string> {
  const filler = join(dir, 'filler');
  const handle = await open(filler, 'w');
  try {
    const chunk = Buffer.alloc(64 * 1024, 1);
    for (;;) await handle.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await handle.close();
  }
  await truncate(filler, (await stat(filler)).size - pages * 4096);
  return filler;
}

function task(allocId: string, marker: string): ExecTaskSpec {
  return {
    allocId,
    job: 'web',
    jobVersion: 1,
    driver: 'exec',
    command: 'sh',
    // `; true` keeps sh itself alive, so the marker ($0) stays in a command line to look for.
    args: ['-c', 'sleep 300; true', marker],
    env: {},
    network: 'host',
    ports: [],
    resources: { cpu: 100, memory: 64 },
  };
}

function driverOn(dataDir: string): ExecDriver {
  const driver = new ExecDriver({ owner: 'peer-a', dataDir });
  cleanups.push(() => driver.close());
  return driver;
}

function killLeftovers(marker: string): void {
  cleanups.push(() => {
    for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
  });
}

describe('exec driver without room for its process record', () => {
  it.each([
    // The intent takes the last page: the spawn happens, and the record after it cannot be written.
    { pages: 1, outcome: /ENOSPC.*stopped again.*free space/ },
    // No room at all: the intent is refused and nothing is spawned.
    { pages: 0, outcome: /ENOSPC.*nothing was started.*free space/ },
  ])(
    'leaves no process behind when $pages pages are free, however often it is retried',
    async ({ pages, outcome }) => {
      const dataDir = await tmpfs(256);
      const marker = `mycel-leak-${randomUUID()}`;
      killLeftovers(marker);
      await mkdir(join(dataDir, 'alloc', 'a1'), { recursive: true });
      const filler = await leavePages(dataDir, pages);
      const driver = driverOn(dataDir);

      for (let attempt = 0; attempt < 3; attempt++) {
        const failure = await driver.start(task('a1', marker)).catch((e: unknown) => e);
        expect(processesWith(marker)).toEqual([]);
        expect(failure).toBeInstanceOf(DriverError);
        expect((failure as DriverError).code).toBe('io');
        expect((failure as DriverError).message).toMatch(outcome);
      }
      expect(await driver.list()).toEqual([]);

      // With room again, one start runs exactly one process and a stop ends it.
      await rm(filler);
      const handle = await driver.start(task('a1', marker));
      expect(handle.state).toBe('running');
      expect(processesWith(marker)).toHaveLength(1);
      await driver.stop('a1', { graceMs: 100 });
      expect(processesWith(marker)).toEqual([]);
    },
  );

  it('starts nothing when not even the intent can be written (read-only data dir)', async () => {
    const dataDir = await tmpfs(256);
    const marker = `mycel-ro-${randomUUID()}`;
    killLeftovers(marker);
    const allocDir = join(dataDir, 'alloc', 'a1');
    await mkdir(allocDir, { recursive: true });
    execFileSync('mount', ['--bind', allocDir, allocDir]);
    execFileSync('mount', ['-o', 'remount,bind,ro', allocDir]);
    cleanups.push(() => {
      execFileSync('umount', [allocDir]);
    });
    const driver = driverOn(dataDir);

    const failure = await driver.start(task('a1', marker)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DriverError);
    expect((failure as DriverError).message).toMatch(/EROFS.*nothing was started.*make it writable/);
    expect(processesWith(marker)).toEqual([]);
  });

  it('adopts a child started just before a crash by its launch id instead of starting a second one', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mycel-exec-intent-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const marker = `mycel-intent-${randomUUID()}`;
    killLeftovers(marker);
    const allocDir = join(dataDir, 'alloc', 'a1');
    await mkdir(allocDir, { recursive: true });
    // What a crash between the spawn and the second write leaves: an intent, and a child carrying its id.
    const launch = randomUUID();
    const intent = { allocId: 'a1', job: 'web', jobVersion: 1, owner: 'peer-a', launch, startedAt: 1 };
    await writeFile(join(allocDir, 'proc.json'), JSON.stringify(intent));
    const orphan = spawn('sh', ['-c', 'sleep 300; true', marker], {
      detached: true,
      stdio: 'ignore',
      env: { PATH: process.env.PATH, MYCEL_LAUNCH_ID: launch },
    });
    orphan.unref();
    await new Promise((resolve) => orphan.once('spawn', resolve));

    const driver = driverOn(dataDir);
    const listed = await driver.list();
    expect(listed.map((h) => [h.allocId, h.state, Number(h.ref.split(':')[0])])).toEqual([
      ['a1', 'running', orphan.pid],
    ]);
    const handle = await driver.start(task('a1', marker));
    expect(Number(handle.ref.split(':')[0])).toBe(orphan.pid);
    expect(processesWith(marker)).toEqual([orphan.pid]);

    await driver.stop('a1', { graceMs: 100 });
    expect(processesWith(marker)).toEqual([]);
  });
});
