/** The docker driver's storage and hardware against a real Docker Engine: binds, named volumes, devices, users. */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../src/node/drivers/docker-container-config.js';
import { DockerDriver } from '../../src/node/drivers/docker-driver.js';
import type { DockerTaskSpec, LogLine, TaskHandle } from '../../src/node/drivers/driver.js';
import { DriverError } from '../../src/node/drivers/driver-error.js';
import { volumeDir } from '../../src/node/drivers/host-mounts.js';
import { DOCKER_SOCKET, dockerWithTestImage, removeByLabel, TEST_IMAGE } from '../support/docker.js';

let docker: Docker;
let root: string;
const owners: string[] = [];

beforeAll(async () => {
  docker = await dockerWithTestImage();
  root = await mkdtemp(join(tmpdir(), 'mycel-docker-hw-'));
});

afterEach(async () => {
  for (const owner of owners.splice(0)) await removeByLabel(docker, `${LABELS.owner}=${owner}`);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function driverFor(allowHostPath: readonly string[] = []): DockerDriver {
  const owner = `test-${randomUUID().slice(0, 8)}`;
  owners.push(owner);
  return new DockerDriver({ owner, socketPath: DOCKER_SOCKET, dataDir: join(root, 'data'), allowHostPath });
}

function task(script: string, extra: Partial<DockerTaskSpec> = {}): DockerTaskSpec {
  return {
    allocId: `t-${randomUUID().slice(0, 12)}`,
    job: 'sensor',
    jobVersion: 1,
    driver: 'docker',
    image: TEST_IMAGE,
    command: 'sh',
    args: ['-c', script],
    env: {},
    network: 'host',
    ports: [],
    resources: { cpu: 100, memory: 32 },
    ...extra,
  };
}

async function exited(driver: DockerDriver, allocId: string): Promise<TaskHandle> {
  const end = Date.now() + 15_000;
  for (;;) {
    const h = await driver.inspect(allocId);
    if (h?.state === 'exited') return h;
    if (Date.now() > end) throw new Error(`${allocId} did not exit in time`);
    await sleep(50);
  }
}

async function output(driver: DockerDriver, t: DockerTaskSpec): Promise<{ code?: number; lines: string[] }> {
  await driver.start(t);
  const h = await exited(driver, t.allocId);
  const lines: LogLine[] = [];
  for await (const line of driver.logs(t.allocId)) lines.push(line);
  return {
    ...(h.state === 'exited' && h.exitCode !== undefined ? { code: h.exitCode } : {}),
    lines: lines.map((l) => l.line),
  };
}

describe('docker volumes', () => {
  it('a host-path volume writes a file the host sees, in a directory made under the allowed prefix', async () => {
    const allowed = join(root, 'allowed');
    const driver = driverFor([allowed]);
    const source = join(allowed, 'sensor');
    const t = task('echo reading-42 > /data/out.txt', { volumes: [{ source, target: '/data' }] });
    expect((await output(driver, t)).code).toBe(0);
    expect(await readFile(join(source, 'out.txt'), 'utf8')).toBe('reading-42\n');
  });

  it('a read-only host path can be read but not written from the container', async () => {
    const allowed = join(root, 'ro');
    await mkdir(allowed, { recursive: true });
    await writeFile(join(allowed, 'seed'), 'calibration\n');
    const driver = driverFor([allowed]);
    const t = task(
      'cat /data/seed; if { echo x > /data/f; } 2>/dev/null; then echo wrote; else echo refused; fi',
      {
        volumes: [{ source: allowed, target: '/data', readOnly: true }],
      },
    );
    expect((await output(driver, t)).lines).toEqual(['calibration', 'refused']);
  });

  it('refuses a host path outside the allow-list, and a symlink that leads out of it', async () => {
    const allowed = join(root, 'fenced');
    await mkdir(allowed, { recursive: true });
    await symlink('/etc', join(allowed, 'escape'));
    const driver = driverFor([allowed]);
    for (const source of ['/etc', join(allowed, 'escape')]) {
      const err = await driver
        .start(task('true', { volumes: [{ source, target: '/data' }] }))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DriverError);
      expect((err as DriverError).code).toBe('invalid-task');
      expect((err as DriverError).message).toMatch(/not allowed|outside the allowed/);
    }
  });

  it("a named volume's file survives the copy: a replacement on the same device reads it", async () => {
    const driver = driverFor();
    const volumes = [{ name: 'state', target: '/state' }];
    const first = task('echo from-first-copy > /state/kept', { volumes });
    expect((await output(driver, first)).code).toBe(0);
    await driver.stop(first.allocId);
    expect(await readFile(join(volumeDir(join(root, 'data'), 'sensor', 'state'), 'kept'), 'utf8')).toBe(
      'from-first-copy\n',
    );
    const replacement = task('cat /state/kept', { volumes, jobVersion: 2 });
    expect((await output(driver, replacement)).lines).toEqual(['from-first-copy']);
    // Another job's volume of the same name is its own.
    const other = task('ls /state | wc -l', { volumes, job: 'other' });
    expect((await output(driver, other)).lines).toEqual(['0']);
  });
});

describe('docker hardware', () => {
  it('a device appears inside the container at its mapped path', async () => {
    const driver = driverFor();
    const t = task('test -c /dev/mycel-zero && head -c 4 /dev/mycel-zero | od -An -tx1', {
      devices: ['/dev/zero:/dev/mycel-zero:rw'],
    });
    const { code, lines } = await output(driver, t);
    expect(code).toBe(0);
    expect(lines.join(' ').trim()).toBe('00 00 00 00');
    const without = await output(driver, task('test -c /dev/mycel-zero'));
    expect(without.code).not.toBe(0);
  });

  it('runs as the given user with the added groups, and with the capabilities asked for', async () => {
    const driver = driverFor();
    const t = task('id -u; id -G; echo mine > /state/f && echo wrote', {
      user: '65534',
      groupAdd: ['4242'],
      volumes: [{ name: 'owned', target: '/state' }],
    });
    const { lines } = await output(driver, t);
    expect(lines[0]).toBe('65534');
    expect(lines[1]?.split(' ')).toContain('4242');
    // A numeric user owns its named volume, so it can write there.
    expect(lines[2]).toBe('wrote');
    // And a host path the agent makes for it; one that already existed keeps its owner.
    const allowed = join(root, 'user-paths');
    await mkdir(join(allowed, 'existing'), { recursive: true });
    const made = await output(
      driverFor([allowed]),
      task('echo x > /made/f && echo made; (echo x > /existing/f) 2>/dev/null || echo refused', {
        user: '65534',
        volumes: [
          { source: join(allowed, 'new', 'dir'), target: '/made' },
          { source: join(allowed, 'existing'), target: '/existing' },
        ],
      }),
    );
    expect(made.lines).toEqual(['made', 'refused']);
    expect((await stat(join(allowed, 'new', 'dir'))).uid).toBe(65534);
    expect((await stat(join(allowed, 'existing'))).uid).toBe(0);
    // CAP_NET_ADMIN is bit 12; Docker's default set lacks it.
    const caps = (add: string[]) =>
      task("grep CapEff /proc/self/status | awk '{print $2}'", { capAdd: add, capDrop: ['ALL'] });
    const withCap = BigInt(`0x${(await output(driver, caps(['NET_ADMIN']))).lines[0]}`);
    const withNone = BigInt(`0x${(await output(driver, caps([]))).lines[0]}`);
    expect(withCap).toBe(1n << 12n);
    expect(withNone).toBe(0n);
  });
});
