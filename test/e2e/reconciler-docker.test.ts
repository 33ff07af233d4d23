/**
 * The reconciler's lifecycle over the real local Docker Engine (fails without one, as every Docker test does).
 * Each test has its own owner and job name, so it cannot see or collide with other containers on the engine.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type JobSpec, type JobSpecInput, validateJobSpec } from '../../src/crdt/job-spec.js';
import type { AllocStatus } from '../../src/crdt/records.js';
import { LABELS } from '../../src/node/drivers/docker-container-config.js';
import { DockerDriver } from '../../src/node/drivers/docker-driver.js';
import type { Driver, DriverName } from '../../src/node/drivers/driver.js';
import { Reconciler } from '../../src/node/workloads/reconciler.js';
import { allocId } from '../../src/scheduler/alloc-id.js';
import type { DesiredAlloc } from '../../src/scheduler/types.js';
import { DOCKER_SOCKET, dockerWithTestImage, removeByLabel, TEST_IMAGE } from '../support/docker.js';
import { startPlan } from '../support/reconciler.js';

let docker: Docker;
const NODE_NAME = 'gate-1';
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  docker = await dockerWithTestImage();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const hex = () => randomBytes(4).toString('hex');

function setup(input: Partial<JobSpecInput> & { script: string }) {
  const owner = `peer-${hex()}`;
  const { script, ...rest } = input;
  const result = validateJobSpec({
    name: `r${hex()}`,
    driver: 'docker',
    image: TEST_IMAGE,
    command: 'sh',
    args: ['-c', script],
    resources: { cpu: 200, memory: 48 },
    ...rest,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  const spec: JobSpec = result.spec;
  const reports: AllocStatus[] = [];
  const reconcilers: Reconciler[] = [];
  const drivers: DockerDriver[] = [];
  const make = () => {
    const driver = new DockerDriver({ owner, socketPath: DOCKER_SOCKET });
    drivers.push(driver);
    const reconciler = new Reconciler({
      self: owner,
      selfName: NODE_NAME,
      drivers: new Map<DriverName, Driver>([['docker', driver]]),
      resolveSpec: (job, version) => (job === spec.name && version === 1 ? spec : undefined),
      report: (status) => reports.push(status),
      now: Date.now,
      log: pino({ level: 'silent' }),
      pollMs: 100,
      healthIntervalScale: 0.2,
      stopGraceMs: 500,
    });
    reconcilers.push(reconciler);
    return { driver, reconciler };
  };
  cleanups.push(async () => {
    for (const r of reconcilers) await r.close();
    for (const d of drivers) await d.close();
    await removeByLabel(docker, `${LABELS.owner}=${owner}`);
  });
  const desired = (slot: number): DesiredAlloc => ({
    allocId: allocId(spec.name, 1, slot, 0, owner),
    job: spec.name,
    jobVersion: 1,
    slot,
    generation: 0,
    node: owner,
    status: 'run',
    score: 0,
  });
  const containers = () =>
    docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${owner}`] } });
  const sequence = (id: string) =>
    reports.filter((s) => s.allocId === id).map((s) => `${s.state}/${s.health}/${s.restarts}`);
  return { owner, spec, reports, make, desired, containers, sequence };
}

async function until(probe: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(50);
  }
}

describe('reconciler with the docker driver', () => {
  it('starts each alloc once with its limits, adopts them after a restart unchanged, and stops them', async () => {
    const { owner, make, desired, containers, sequence, reports } = setup({ script: 'exec sleep 60' });
    const first = make();
    await first.reconciler.start();
    const [a, b] = [desired(0), desired(1)];
    const plan = startPlan(a, b);
    await Promise.all([
      first.reconciler.apply(plan),
      first.reconciler.apply(plan),
      first.reconciler.apply(plan),
    ]);

    const listed = await containers();
    expect(listed.map((c) => c.Labels[LABELS.alloc]).sort()).toEqual([a.allocId, b.allocId].sort());
    const infos = await Promise.all(listed.map((c) => docker.getContainer(c.Id).inspect()));
    for (const info of infos) {
      expect(info.State.Running).toBe(true);
      expect(info.HostConfig.NanoCpus).toBe(200_000_000);
      expect(info.HostConfig.Memory).toBe(48 * 2 ** 20);
      expect(info.Config.Env).toContain(`MYCEL_ALLOC_ID=${info.Config.Labels?.[LABELS.alloc]}`);
      expect(info.Config.Env).toEqual(
        expect.arrayContaining([`MYCEL_NODE=${NODE_NAME}`, `MYCEL_NODE_ID=${owner}`]),
      );
    }
    for (const id of [a.allocId, b.allocId]) {
      expect(sequence(id)).toEqual(['pending/unknown/0', 'starting/unknown/0', 'running/unknown/0']);
    }
    const running = first.reconciler.status(a.allocId);
    const infoA = infos.find((i) => i.Config.Labels?.[LABELS.alloc] === a.allocId);
    expect(running?.startedAt).toBe(Date.parse(infoA?.State.StartedAt ?? ''));

    // Agent restart: a new driver and reconciler adopt both containers and write nothing.
    const written = [...reports];
    await first.reconciler.close();
    const second = make();
    await second.reconciler.start(written);
    await second.reconciler.apply({ start: [], stop: [], keep: [a, b] });
    expect(reports).toEqual(written);
    const after = await Promise.all((await containers()).map((c) => docker.getContainer(c.Id).inspect()));
    const identity = (list: typeof infos) =>
      list.map((i) => [i.Id, i.State.StartedAt, i.State.Running]).sort();
    expect(identity(after)).toEqual(identity(infos));
    expect(second.reconciler.events(a.allocId).map((e) => e.kind)).toEqual(['adopted']);

    await second.reconciler.apply({
      start: [],
      stop: [{ ...a, state: 'running', health: 'unknown', startedAt: running?.startedAt ?? 0, restarts: 0 }],
      keep: [b],
    });
    expect((await containers()).map((c) => c.Labels[LABELS.alloc])).toEqual([b.allocId]);
    expect(sequence(a.allocId).at(-1)).toBe('complete/unknown/0');
  });

  it('restarts an exiting container per its policy, then fails with the reason and keeps it for its logs', async () => {
    const { make, desired, containers, sequence, reports } = setup({
      script: 'sleep 0.2; exit 3',
      restart: { attempts: 1, interval: '10s', delay: '100ms', mode: 'fail' },
    });
    const { reconciler } = make();
    await reconciler.start();
    const a = desired(0);
    await reconciler.apply(startPlan(a));
    await until(() => reconciler.status(a.allocId)?.state === 'failed');
    expect(sequence(a.allocId)).toEqual([
      'pending/unknown/0',
      'starting/unknown/0',
      'running/unknown/0',
      'pending/unknown/1',
      'starting/unknown/1',
      'running/unknown/1',
      'failed/unknown/1',
    ]);
    expect(reports.at(-1)?.lastError).toBe(
      'exited with code 3; gave up after 1 restart within 10s (restart mode fail)',
    );
    expect(reports.at(-1)?.exitCode).toBe(3);
    // Left, exited, to the finished-copy GC: `alloc logs` still reads it.
    expect((await containers()).map((c) => c.State)).toEqual(['exited']);
  });

  it('a failing check inside the container makes it unhealthy, and enough failures restart it', async () => {
    const { make, desired, containers, sequence } = setup({
      // The test image is a bare busybox: no test, touch or rm binaries, hence the shell.
      script: 'echo ok > /tmp/ok; exec sleep 60',
      health: { type: 'exec', command: ['sh', '-c', 'test -s /tmp/ok'], interval: '1s', timeout: '2s' },
      restart: { attempts: 2, interval: '1m', delay: '0', mode: 'fail' },
    });
    const { reconciler } = make();
    await reconciler.start();
    const a = desired(0);
    await reconciler.apply(startPlan(a));
    await until(() => reconciler.status(a.allocId)?.health === 'healthy');
    const [before] = await containers();
    const exec = await docker.getContainer(before?.Id ?? '').exec({ Cmd: ['sh', '-c', ': > /tmp/ok'] });
    await exec.start({});
    await until(() => reconciler.status(a.allocId)?.health === 'unhealthy');
    await until(
      () =>
        reconciler.status(a.allocId)?.restarts === 1 && reconciler.status(a.allocId)?.health === 'healthy',
    );
    expect(sequence(a.allocId)).toEqual([
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
    const [after] = await containers();
    expect(after?.Id).not.toBe(before?.Id);
  });
});
