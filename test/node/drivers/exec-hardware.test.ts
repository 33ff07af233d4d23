/** The exec driver's storage and users on this machine: links to volumes, named volumes across copies, setpriv. */
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExecTaskSpec, LogLine } from '../../../src/node/drivers/driver.js';
import { DriverError } from '../../../src/node/drivers/driver-error.js';
import { ExecDriver } from '../../../src/node/drivers/exec-driver.js';
import { volumeDir } from '../../../src/node/drivers/host-mounts.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(allowHostPath: string[] = []) {
  const dataDir = await mkdtemp(join(tmpdir(), 'mycel-exec-hw-'));
  const driver = new ExecDriver({ owner: 'peer-a', dataDir, allowHostPath });
  cleanups.push(async () => {
    for (const h of await driver.list()) await driver.stop(h.allocId, { graceMs: 100 });
    await driver.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return { dataDir, driver };
}

let next = 0;
function task(script: string, extra: Partial<ExecTaskSpec> = {}): ExecTaskSpec {
  return {
    allocId: `hw-${process.pid}-${next++}`,
    job: 'sensor',
    jobVersion: 1,
    driver: 'exec',
    command: 'sh',
    args: ['-c', script],
    env: {},
    network: 'host',
    ports: [],
    resources: { cpu: 100, memory: 64 },
    ...extra,
  };
}

async function run(driver: ExecDriver, t: ExecTaskSpec): Promise<{ code?: number; lines: string[] }> {
  await driver.start(t);
  const end = Date.now() + 10_000;
  for (;;) {
    const h = await driver.inspect(t.allocId);
    if (h?.state === 'exited') {
      const lines: LogLine[] = [];
      for await (const line of driver.logs(t.allocId)) lines.push(line);
      return { ...(h.exitCode === undefined ? {} : { code: h.exitCode }), lines: lines.map((l) => l.line) };
    }
    if (Date.now() > end) throw new Error(`${t.allocId} did not exit`);
    await sleep(20);
  }
}

describe('exec volumes', () => {
  it('links a host path at the target under the work dir; what the process writes the host sees', async () => {
    const allowed = await mkdtemp(join(tmpdir(), 'mycel-exec-allowed-'));
    cleanups.push(() => rm(allowed, { recursive: true, force: true }));
    const { driver, dataDir } = await setup([allowed]);
    const source = join(allowed, 'sensor');
    const t = task('echo reading-7 > data/out.txt && echo "$MYCEL_ALLOC_DIR"', {
      volumes: [
        { source, target: '/data' },
        { name: 'cache', target: '/var/cache/app' },
      ],
    });
    const { code, lines } = await run(driver, t);
    expect(code).toBe(0);
    expect(await readFile(join(source, 'out.txt'), 'utf8')).toBe('reading-7\n');
    const workDir = lines[0]!;
    expect(await readlink(join(workDir, 'data'))).toBe(source);
    expect(await readlink(join(workDir, 'var/cache/app'))).toBe(volumeDir(dataDir, 'sensor', 'cache'));
  });

  it("a named volume's file survives the copy: the next copy on this device reads it", async () => {
    const { driver } = await setup();
    const volumes = [{ name: 'state', target: '/state' }];
    const first = task('echo from-first > state/kept', { volumes });
    expect((await run(driver, first)).code).toBe(0);
    await driver.stop(first.allocId);
    const second = task('cat state/kept', { volumes, jobVersion: 2 });
    expect((await run(driver, second)).lines).toEqual(['from-first']);
  });

  it('refuses host paths outside the allow-list and targets over what the driver keeps', async () => {
    const { driver } = await setup(['/srv/mycel-test-allowed']);
    const refused = async (t: ExecTaskSpec, message: RegExp) => {
      const err = await driver.start(t).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DriverError);
      expect((err as DriverError).code).toBe('invalid-task');
      expect((err as DriverError).message).toMatch(message);
    };
    await refused(
      task('true', { volumes: [{ source: '/etc', target: '/etc' }] }),
      /host path \/etc is not allowed/,
    );
    await refused(task('true', { volumes: [{ name: 'x', target: '/stdout.log' }] }), /would replace/);
    await refused(task('true', { volumes: [{ name: 'x', target: '/proc.json' }] }), /would replace/);
  });
});

describe('host paths through symlinks', () => {
  it('creates nothing through a symlink under the allowed path that leads out of it', async () => {
    const allowed = await mkdtemp(join(tmpdir(), 'mycel-exec-allowed-'));
    const outside = await mkdtemp(join(tmpdir(), 'mycel-exec-outside-'));
    cleanups.push(() => rm(allowed, { recursive: true, force: true }));
    cleanups.push(() => rm(outside, { recursive: true, force: true }));
    await symlink(outside, join(allowed, 'link'));
    const { driver } = await setup([allowed]);
    for (const source of [join(allowed, 'link'), join(allowed, 'link', 'new', 'deeper')]) {
      const err = await driver
        .start(task('true', { volumes: [{ source, target: '/data' }] }))
        .catch((e: unknown) => e);
      expect((err as DriverError).code).toBe('invalid-task');
      expect((err as DriverError).message).toMatch(/outside the allowed/);
    }
    expect(await readdir(outside)).toEqual([]);
    // A symlink that stays inside is followed.
    await mkdir(join(allowed, 'real'));
    await symlink(join(allowed, 'real'), join(allowed, 'inside'));
    const ok = task('echo in > data/f', { volumes: [{ source: join(allowed, 'inside'), target: '/data' }] });
    expect((await run(driver, ok)).code).toBe(0);
    expect(await readFile(join(allowed, 'real', 'f'), 'utf8')).toBe('in\n');
  });
});

describe('exec user and groups', () => {
  it('runs as nobody with its groups and the added ones, and a named volume is its own', async () => {
    const { driver, dataDir } = await setup();
    const t = task('id -u; id -G; echo mine > state/f && echo wrote', {
      user: 'nobody',
      groupAdd: ['4242'],
      volumes: [{ name: 'state', target: '/state' }],
    });
    const { code, lines } = await run(driver, t);
    expect(code).toBe(0);
    expect(lines[0]).toBe('65534');
    expect(lines[1]?.split(' ')).toEqual(expect.arrayContaining(['65534', '4242']));
    expect(lines[1]?.split(' ')).not.toContain('0');
    expect(lines[2]).toBe('wrote');
    expect((await stat(volumeDir(dataDir, 'sensor', 'state'))).uid).toBe(65534);
    // Health checks run in the workload's context: as its user, with its groups.
    const check = await driver.exec(t.allocId, ['sh', '-c', 'id -u; id -G']);
    expect(check.output.trim().split('\n')).toEqual([lines[0], lines[1]]);
    // The data dir stays unlistable to others: search only.
    expect((await stat(dataDir)).mode & 0o007).toBe(0o001);
  });

  it('a numeric uid without an account runs with its number as group; an unknown name is refused', async () => {
    const { driver } = await setup();
    expect((await run(driver, task('id -u; id -g', { user: '43210' }))).lines).toEqual(['43210', '43210']);
    const err = await driver.start(task('true', { user: 'no-such-user-xyz' })).catch((e: unknown) => e);
    expect((err as DriverError).code).toBe('invalid-task');
    expect((err as DriverError).message).toMatch(/no user no-such-user-xyz/);
  });
});
