import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../src/node/drivers/docker-container-config.js';
import { DockerDriver } from '../../src/node/drivers/docker-driver.js';
import { probeDocker } from '../../src/node/drivers/docker-probe.js';
import type { DockerTaskSpec, LogLine, TaskHandle } from '../../src/node/drivers/driver.js';
import { DriverError } from '../../src/node/drivers/driver-error.js';
import { runCheck } from '../../src/node/workloads/health-check.js';
import { DOCKER_SOCKET, dockerWithTestImage, removeByLabel, TEST_IMAGE } from '../support/docker.js';

let docker: Docker;
const owners: string[] = [];

beforeAll(async () => {
  docker = await dockerWithTestImage();
});

afterEach(async () => {
  for (const owner of owners.splice(0)) await removeByLabel(docker, `${LABELS.owner}=${owner}`);
});

function driverFor(owner = `test-${randomUUID().slice(0, 8)}`): DockerDriver {
  if (!owners.includes(owner)) owners.push(owner);
  return new DockerDriver({ owner, socketPath: DOCKER_SOCKET, callTimeoutMs: 10_000 });
}

function task(allocId: string, script: string, extra: Partial<DockerTaskSpec> = {}): DockerTaskSpec {
  return {
    allocId,
    job: 'web',
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

function uniqueAlloc(): string {
  return `t-${randomUUID().slice(0, 12)}`;
}

async function until<T>(probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(50);
  }
}

async function exited(driver: DockerDriver, allocId: string): Promise<TaskHandle> {
  return until(async () => {
    const h = await driver.inspect(allocId);
    return h?.state === 'exited' ? h : undefined;
  });
}

async function collect(lines: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('docker driver against the local engine', () => {
  it('creates the container with limits, env, labels, no restart policy and published ports', async () => {
    const driver = driverFor();
    const allocId = uniqueAlloc();
    const hostPort = await freePort();
    const handle = await driver.start(
      task(allocId, 'echo hello > /tmp/index.html; exec httpd -f -p 8080 -h /tmp', {
        env: { GREETING: 'hello world' },
        network: 'bridge',
        ports: [{ name: 'http', host: hostPort, container: 8080, protocol: 'tcp' }],
        resources: { cpu: 250, memory: 64 },
      }),
    );
    expect(handle).toMatchObject({ allocId, job: 'web', jobVersion: 1, driver: 'docker', state: 'running' });

    const info = await docker.getContainer(handle.ref).inspect();
    expect(info.Name).toBe(`/mycel-${allocId}`);
    expect(info.HostConfig.NanoCpus).toBe(250_000_000);
    expect(info.HostConfig.Memory).toBe(64 * 1024 * 1024);
    expect(info.HostConfig.RestartPolicy?.Name).toBe('no');
    expect(info.HostConfig.NetworkMode).toBe('bridge');
    expect(info.Config.Env).toContain('GREETING=hello world');
    expect(info.Config.Labels).toMatchObject({
      'mycel.alloc': allocId,
      'mycel.job': 'web',
      'mycel.version': '1',
      'mycel.owner': owners[0],
    });
    const body = await until(async () => {
      const res = await fetch(`http://127.0.0.1:${hostPort}/index.html`).catch(() => undefined);
      return res?.ok ? res.text() : undefined;
    });
    expect(body).toBe('hello\n');
  });

  it('lists only its owner’s containers on a shared engine', async () => {
    const mine = driverFor();
    const theirs = driverFor();
    const a = uniqueAlloc();
    const b = uniqueAlloc();
    await Promise.all([mine.start(task(a, 'exec sleep 30')), theirs.start(task(b, 'exec sleep 30'))]);
    expect((await mine.list()).map((h) => h.allocId)).toEqual([a]);
    expect((await theirs.list()).map((h) => h.allocId)).toEqual([b]);
    expect(await theirs.inspect(a)).toBeUndefined();
    await theirs.stop(a, { graceMs: 100 });
    expect(await mine.inspect(a)).toMatchObject({ state: 'running' });
  });

  it('a restarted agent adopts the running container without restarting it', async () => {
    const owner = `test-${randomUUID().slice(0, 8)}`;
    const allocId = uniqueAlloc();
    const first = await driverFor(owner).start(task(allocId, 'exec sleep 30'));
    const restarted = driverFor(owner);
    expect(await restarted.list()).toEqual([first]);
    const adopted = await restarted.start(task(allocId, 'exec sleep 30'));
    expect(adopted).toEqual(first);
    const info = await docker.getContainer(first.ref).inspect();
    expect(Date.parse(info.State.StartedAt)).toBe(first.startedAt);
    expect(info.RestartCount).toBe(0);
  });

  it('replaces what a crashed start or another owner left under the alloc’s name', async () => {
    const driver = driverFor();
    const allocId = uniqueAlloc();
    const leftover = await docker.createContainer({
      name: `mycel-${allocId}`,
      Image: TEST_IMAGE,
      Cmd: ['sleep', '30'],
      Labels: { [LABELS.alloc]: allocId, [LABELS.owner]: 'someone-else' },
    });
    owners.push('someone-else');
    const handle = await driver.start(task(allocId, 'exec sleep 30'));
    expect(handle.ref).not.toBe(leftover.id);
    expect(handle.state).toBe('running');

    // Same owner, created but never started (the agent died between create and start).
    await docker.getContainer(handle.ref).remove({ force: true });
    const crashed = await docker.createContainer({
      name: `mycel-${allocId}`,
      Image: TEST_IMAGE,
      Cmd: ['sleep', '30'],
      Labels: {
        [LABELS.alloc]: allocId,
        [LABELS.owner]: owners[0]!,
        [LABELS.job]: 'web',
        [LABELS.version]: '1',
      },
    });
    expect(await driver.inspect(allocId)).toMatchObject({ state: 'exited' });
    expect(await driver.inspect(allocId)).not.toHaveProperty('exitCode');
    const restarted = await driver.start(task(allocId, 'exec sleep 30'));
    expect(restarted.ref).not.toBe(crashed.id);
    expect(restarted.state).toBe('running');
  });

  it('stops with the grace period, then kills and removes', async () => {
    const driver = driverFor();
    const allocId = uniqueAlloc();
    // PID 1 without a handler ignores SIGTERM: only the kill ends it.
    await driver.start(task(allocId, 'exec sleep 30'));
    const t0 = performance.now();
    await driver.stop(allocId, { graceMs: 300 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(await driver.inspect(allocId)).toBeUndefined();
    expect(await driver.list()).toEqual([]);
  });

  it('observes the exit code', async () => {
    const driver = driverFor();
    const allocId = uniqueAlloc();
    await driver.start(task(allocId, 'exit 3'));
    expect(await exited(driver, allocId)).toMatchObject({ state: 'exited', exitCode: 3 });
  });

  it('gives the tail of the logs, then follows until aborted, and a follow ends when the container exits', async () => {
    const driver = driverFor();
    const allocId = uniqueAlloc();
    // Docker orders the two streams as its copiers see them: the pause makes the tail certain.
    const script =
      'echo err1 >&2; sleep 0.2; for i in 1 2 3 4 5; do echo out$i; done; sleep 0.5; echo late; sleep 30';
    await driver.start(task(allocId, script));
    const all = await until(async () => {
      const lines = await collect(driver.logs(allocId));
      return lines.length === 6 ? lines : undefined;
    });
    expect(all[0]).toEqual({ stream: 'stderr', line: 'err1' });
    expect(await collect(driver.logs(allocId, { tail: 2 }))).toEqual([
      { stream: 'stdout', line: 'out4' },
      { stream: 'stdout', line: 'out5' },
    ]);
    const abort = new AbortController();
    const seen: string[] = [];
    for await (const { line } of driver.logs(allocId, { tail: 1, follow: true, signal: abort.signal })) {
      seen.push(line);
      if (line === 'late') abort.abort();
    }
    expect(seen).toEqual(['out5', 'late']);

    const short = uniqueAlloc();
    await driver.start(task(short, 'echo a; sleep 0.3; printf b'));
    expect((await collect(driver.logs(short, { follow: true }))).map((l) => l.line)).toEqual(['a', 'b']);
  });

  it('reports stats and runs commands inside the container, also as an exec health check', async () => {
    const driver = driverFor();
    const allocId = uniqueAlloc();
    await driver.start(task(allocId, 'echo ok > /tmp/ready; exec sleep 30'));
    expect((await driver.stats(allocId))?.memoryBytes).toBeGreaterThan(0);
    await until(async () =>
      (await driver.exec(allocId, ['cat', '/tmp/ready'])).exitCode === 0 ? true : undefined,
    );
    expect(
      await driver.exec(allocId, ['sh', '-c', 'cat /tmp/ready; sleep 0.1; echo oops >&2; exit 4']),
    ).toEqual({
      exitCode: 4,
      output: 'ok\noops\n',
    });
    const exec = (command: readonly string[], signal: AbortSignal) =>
      driver.exec(allocId, command, { signal });
    const check = (command: string[]) => runCheck({ type: 'exec', command, timeoutMs: 2_000 }, { exec });
    expect(await check(['cat', '/tmp/ready'])).toEqual({ healthy: true });
    expect(await check(['cat', '/tmp/missing'])).toMatchObject({ healthy: false });
  });

  it('fails a pull from an unreachable registry with a typed error', async () => {
    const driver = driverFor();
    const start = driver.start({ ...task(uniqueAlloc(), 'true'), image: '127.0.0.1:9/mycel/nope:1' });
    await expect(start).rejects.toBeInstanceOf(DriverError);
    await expect(start).rejects.toMatchObject({ code: 'image-pull-failed' });
  });
});

describe('docker engine probe and errors', () => {
  let hanging: Server;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mycel-sock-'));
    // Accepts connections and never answers: a wedged engine.
    hanging = createServer(() => {});
    await new Promise<void>((resolve) => hanging.listen(join(dir, 'hang.sock'), resolve));
  });

  afterAll(async () => {
    hanging.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers quickly whether an engine is there', async () => {
    expect(await probeDocker(DOCKER_SOCKET)).toBe(true);
    expect(await probeDocker(join(dir, 'missing.sock'))).toBe(false);
    const t0 = performance.now();
    expect(await probeDocker(join(dir, 'hang.sock'), 200)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it('says what to fix when no engine answers or it hangs', async () => {
    const absent = new DockerDriver({ owner: 'x', socketPath: join(dir, 'missing.sock') });
    await expect(absent.list()).rejects.toMatchObject({ code: 'engine-unreachable' });
    await expect(absent.list()).rejects.toThrow(/--docker-socket/);
    const wedged = new DockerDriver({ owner: 'x', socketPath: join(dir, 'hang.sock'), callTimeoutMs: 200 });
    await expect(wedged.inspect('a1')).rejects.toMatchObject({ code: 'timeout' });
  });
});

describe('docker driver pulls a missing image', () => {
  let registry: ChildProcess;
  let dir: string;
  let image: string;

  async function drain(stream: NodeJS.ReadableStream): Promise<void> {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const error = /"error":"([^"]*)"/.exec(chunk.toString())?.[1];
      if (error) throw new Error(error);
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mycel-registry-'));
    const port = await freePort();
    const config = join(dir, 'config.yml');
    await writeFile(
      config,
      `version: 0.1\nstorage: { filesystem: { rootdirectory: ${dir}/data } }\nhttp: { addr: 127.0.0.1:${port} }\n`,
    );
    registry = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
    await until(async () => {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => undefined);
      return res?.ok ? true : undefined;
    });
    image = `127.0.0.1:${port}/mycel/busybox:pull-test`;
    await docker.getImage(TEST_IMAGE).tag({ repo: `127.0.0.1:${port}/mycel/busybox`, tag: 'pull-test' });
    // The engine wants an auth header even for a registry without auth.
    await drain(await docker.getImage(image).push({ authconfig: { serveraddress: `127.0.0.1:${port}` } }));
    await docker.getImage(image).remove();
  });

  afterAll(async () => {
    await docker
      .getImage(image)
      .remove()
      .catch(() => {});
    registry.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('follows the pull to completion, then runs the container', async () => {
    await expect(docker.getImage(image).inspect()).rejects.toMatchObject({ statusCode: 404 });
    const driver = driverFor();
    const handle = await driver.start({ ...task(uniqueAlloc(), 'exec sleep 30'), image });
    expect(handle.state).toBe('running');
    expect((await docker.getImage(image).inspect()).RepoTags).toContain(image);
  });
});
