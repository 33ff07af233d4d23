/**
 * Acceptance of issue 5 through whole agents: three real `dist/meshd.mjs` processes on loopback, the real
 * Docker Engine (a local image made with `docker import`) or real processes, and the real `meshctl`. The same
 * lifecycle is proved for both drivers, one clearly named test per point:
 *   - a `count: 3` job runs exactly three workloads, one per agent, labelled and with the limits set;
 *   - `kill -9` of an agent and a restart on its data dir adopts its workload: same identity, same start time,
 *     and the replicated status is not restarted;
 *   - a workload that exits is restarted per its policy, and past the attempts the allocation is `failed` with
 *     the reason in lastError, in the events and in `meshctl alloc status`.
 * Every test's job has its own name; after each test the job is stopped through the mesh, and whatever is left
 * is removed by label (Docker) or by the exec driver's own records, also when the test failed.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { AllocStatus } from '../../src/crdt/records.js';
import type { AllocDetail, JobDetail } from '../../src/node/api/types.js';
import { LABELS } from '../../src/node/drivers/docker-container-config.js';
import { ExecDriver } from '../../src/node/drivers/exec-driver.js';
import { readProcStat } from '../../src/node/drivers/proc-identity.js';
import type { AllocEvent } from '../../src/node/workloads/alloc-events.js';
import { tempDir, waitFor } from '../support/agents.js';
import { dockerWithTestImage, removeByLabel, TEST_IMAGE } from '../support/docker.js';
import {
  apiGet,
  apiPost,
  killHard,
  type MeshdAgent,
  type MeshdOptions,
  restartMeshd,
  startMeshdMesh,
  stopMeshd,
} from '../support/meshd-mesh.js';
import { bundle, meshctl } from '../support/processes.js';

const MESH: Omit<MeshdOptions, 'driver'> = {
  heartbeatIntervalMs: 250,
  suspectAfterMs: 1_500,
  lostAfterMs: 5_000,
};

/** One container or process, as the runtime itself (not the agent) reports it. */
interface Workload {
  readonly allocId: string;
  readonly job: string;
  readonly version: string;
  /** Peer id of the agent that owns it. */
  readonly owner: string;
  /** The container id, or `pid:starttime` read from the kernel. */
  readonly identity: string;
  /** The container's State.StartedAt, or the process's start in clock ticks since boot. */
  readonly startedAt: string;
  readonly running: boolean;
}

interface Runtime {
  readonly driver: 'docker' | 'exec';
  /** What the tests call a workload, for test names. */
  readonly noun: { readonly one: string; readonly many: string };
  prepare(): Promise<void>;
  /** A job file running `sh -c <script>`, with env, resources and host networking set. */
  jobFile(name: string, script: string, extra: readonly string[]): string;
  workloads(job: string, agents: readonly MeshdAgent[]): Promise<Workload[]>;
  /** Asserts the workload got the spec's limits and environment (see jobFile). */
  /** `node`: the name of the agent that runs it, which the workload sees as MYCEL_NODE. */
  expectLimits(workload: Workload, node: string): Promise<void>;
  /** Removes what is left of `job`, or of every job of these agents. */
  sweep(agents: readonly MeshdAgent[], job?: string): Promise<void>;
}

const COMMON_SPEC = ['env: { GREETING: hello }', 'network: host', 'resources: { cpu: 250, memory: 32 }'];

function dockerRuntime(): Runtime {
  let docker: Docker | undefined;
  const engine = () => {
    if (!docker) throw new Error('prepare() first');
    return docker;
  };
  return {
    driver: 'docker',
    noun: { one: 'container', many: 'containers' },
    async prepare() {
      docker = await dockerWithTestImage();
    },
    jobFile: (name, script, extra) =>
      [
        `name: ${name}`,
        'driver: docker',
        `image: ${TEST_IMAGE}`,
        'command: sh',
        `args: ["-c", ${JSON.stringify(script)}]`,
        ...COMMON_SPEC,
        ...extra,
      ].join('\n'),
    async workloads(job) {
      const listed = await engine().listContainers({
        all: true,
        filters: { label: [`${LABELS.job}=${job}`] },
      });
      const infos = await Promise.all(listed.map((c) => engine().getContainer(c.Id).inspect()));
      return infos.map((info) => {
        const labels = info.Config.Labels ?? {};
        return {
          allocId: labels[LABELS.alloc] ?? '',
          job: labels[LABELS.job] ?? '',
          version: labels[LABELS.version] ?? '',
          owner: labels[LABELS.owner] ?? '',
          identity: info.Id,
          startedAt: info.State.StartedAt,
          running: info.State.Running,
        };
      });
    },
    async expectLimits(w, node) {
      const info = await engine().getContainer(w.identity).inspect();
      expect(info.HostConfig.NanoCpus).toBe(250_000_000);
      expect(info.HostConfig.Memory).toBe(32 * 2 ** 20);
      expect(info.HostConfig.NetworkMode).toBe('host');
      // Restarts are the agent's, so they are counted and visible; Docker must not restart on its own.
      expect(info.HostConfig.RestartPolicy?.Name).toBe('no');
      expect(info.Config.Env).toEqual(
        expect.arrayContaining([
          'GREETING=hello',
          `MYCEL_NODE=${node}`,
          `MYCEL_NODE_ID=${w.owner}`,
          `MYCEL_ALLOC_ID=${w.allocId}`,
        ]),
      );
    },
    async sweep(agents, job) {
      if (!docker) return;
      const labels = job ? [`${LABELS.job}=${job}`] : agents.map((a) => `${LABELS.owner}=${a.peerId}`);
      for (const label of labels) await removeByLabel(docker, label);
    },
  };
}

interface ProcRecord {
  allocId: string;
  job: string;
  jobVersion: number;
  owner: string;
  pid: number;
}

async function procRecords(agent: MeshdAgent): Promise<ProcRecord[]> {
  const root = join(agent.dataDir, 'alloc');
  const dirs = await readdir(root).catch(() => []);
  const records = await Promise.all(
    dirs.map((d) =>
      readFile(join(root, d, 'proc.json'), 'utf8').then(
        (text) => JSON.parse(text) as ProcRecord,
        () => undefined,
      ),
    ),
  );
  return records.filter((r) => r !== undefined);
}

async function environOf(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').filter(Boolean);
}

function execRuntime(): Runtime {
  return {
    driver: 'exec',
    noun: { one: 'process', many: 'processes' },
    async prepare() {},
    jobFile: (name, script, extra) =>
      [
        `name: ${name}`,
        'driver: exec',
        'command: /bin/sh',
        `args: ["-c", ${JSON.stringify(script)}]`,
        ...COMMON_SPEC,
        ...extra,
      ].join('\n'),
    async workloads(job, agents) {
      const records = (await Promise.all(agents.map(procRecords))).flat().filter((r) => r.job === job);
      return records.map((r) => {
        // The kernel's start time: a new process under a reused pid would differ.
        const stat = readProcStat(r.pid);
        return {
          allocId: r.allocId,
          job: r.job,
          version: String(r.jobVersion),
          owner: r.owner,
          identity: `${r.pid}:${stat?.startTime ?? 'gone'}`,
          startedAt: String(stat?.startTime ?? 'gone'),
          running: stat !== undefined && stat.state !== 'Z',
        };
      });
    },
    async expectLimits(w, node) {
      // No cgroups for plain processes: the limits are handed over in the environment.
      const env = await environOf(Number(w.identity.split(':')[0]));
      expect(env).toEqual(
        expect.arrayContaining([
          'GREETING=hello',
          'MYCEL_CPU_LIMIT=250',
          'MYCEL_MEMORY_LIMIT=32',
          `MYCEL_NODE=${node}`,
          `MYCEL_NODE_ID=${w.owner}`,
          `MYCEL_ALLOC_ID=${w.allocId}`,
        ]),
      );
    },
    async sweep(agents, job) {
      for (const agent of agents) {
        const driver = new ExecDriver({ owner: agent.peerId, dataDir: agent.dataDir });
        try {
          for (const h of await driver.list()) {
            if (job === undefined || h.job === job) await driver.stop(h.allocId, { graceMs: 200 });
          }
        } finally {
          await driver.close();
        }
      }
    },
  };
}

beforeAll(bundle, 60_000);

describe.each([dockerRuntime(), execRuntime()])('$driver driver, whole agents', (runtime) => {
  const options: MeshdOptions = { ...MESH, driver: runtime.driver };
  let agents: MeshdAgent[] = [];
  let bootstrap = '';
  let root: Awaited<ReturnType<typeof tempDir>> | undefined;
  const jobs: string[] = [];

  beforeAll(async () => {
    await runtime.prepare();
    root = await tempDir('mycel-acceptance-');
    ({ agents, bootstrap } = await startMeshdMesh(root.path, ['acc-1', 'acc-2', 'acc-3'], options));
  }, 90_000);

  afterEach(async () => {
    const live = agents.filter((a) => a.child.exitCode === null && a.child.signalCode === null);
    for (const job of jobs.splice(0)) {
      try {
        const [any] = live;
        if (any) await apiPost(any, `/v1/jobs/${job}/stop`, { purge: false });
        await waitFor(
          `every copy of ${job} to stop`,
          async () => {
            // An agent that does not know the job (a failed test may leave one behind) runs none of it.
            const views = await Promise.all(
              live.map((a) =>
                apiGet<JobDetail>(a, `/v1/jobs/${job}`).catch(() => ({ allocations: [] as AllocStatus[] })),
              ),
            );
            return views.every((v) =>
              v.allocations.every((s) => !['pending', 'starting', 'running'].includes(s.state)),
            );
          },
          20_000,
        );
      } finally {
        await runtime.sweep(agents, job);
      }
    }
  }, 40_000);

  afterAll(async () => {
    await Promise.all(agents.map(stopMeshd));
    await runtime.sweep(agents);
    await root?.cleanup();
  }, 40_000);

  function newJob(kind: string): string {
    const name = `acc-${runtime.driver}-${kind}-${randomBytes(3).toString('hex')}`;
    jobs.push(name);
    return name;
  }

  async function submit(job: string, script: string, extra: readonly string[] = []): Promise<void> {
    const [first] = agents;
    if (!first) throw new Error('no agents');
    await apiPost(first, '/v1/jobs', {
      source: runtime.jobFile(job, script, extra),
      fileName: `${job}.yaml`,
    });
  }

  const statuses = async (observer: MeshdAgent, job: string): Promise<AllocStatus[]> =>
    (await apiGet<JobDetail>(observer, `/v1/jobs/${job}`)).allocations;

  const running = async (observer: MeshdAgent, job: string) =>
    (await statuses(observer, job)).filter((s) => s.state === 'running');

  const detail = (agent: MeshdAgent, allocId: string) =>
    apiGet<AllocDetail>(agent, `/v1/allocs/${encodeURIComponent(allocId)}`);

  const kinds = (events: AllocEvent[] | null | undefined) => (events ?? []).map((e) => e.kind);

  async function threeRunning(job: string): Promise<void> {
    let seen = '';
    await waitFor(
      'three running copies on three agents, seen by every agent',
      async () => {
        const views = await Promise.all(agents.map((a) => statuses(a, job).catch(() => [])));
        seen = views
          .map((v, i) => `${agents[i]?.name}: ${v.map((s) => `${s.allocId}@${s.node.slice(-4)}=${s.state}`)}`)
          .join('; ');
        const up = views.map((v) => v.filter((s) => s.state === 'running'));
        return up.every((v) => v.length === 3 && new Set(v.map((s) => s.node)).size === 3);
      },
      45_000,
      () => seen,
    );
  }

  test(`count 3 on 3 agents runs exactly 3 ${runtime.noun.many}, one per agent, labelled, with the limits set`, async () => {
    const job = newJob('three');
    await submit(job, 'exec sleep 600', ['count: 3']);
    await threeRunning(job);

    const workloads = await runtime.workloads(job, agents);
    expect(workloads).toHaveLength(3);
    expect(workloads.every((w) => w.running)).toBe(true);
    expect(new Set(workloads.map((w) => w.owner))).toEqual(new Set(agents.map((a) => a.peerId)));
    const [observer] = agents;
    const replicated = await running(observer!, job);
    for (const w of workloads) {
      // The runtime's own labels agree with the replicated status written by the owner.
      expect(w).toMatchObject({ job, version: '1' });
      expect(replicated.find((s) => s.allocId === w.allocId)).toMatchObject({ node: w.owner, jobVersion: 1 });
      await runtime.expectLimits(w, agents.find((a) => a.peerId === w.owner)?.name ?? '?');
    }
  });

  test(`kill -9 an agent and restart it on its data dir: its ${runtime.noun.many} keep their identity and start time, not restarted`, async () => {
    const job = newJob('kill');
    // A long lostAfter: the mesh must not replace the copy while its agent is down for a moment.
    await submit(job, 'exec sleep 600', ['count: 3', 'disconnect: { lostAfter: 1m }']);
    await threeRunning(job);
    const [observer, , victim] = agents;
    if (!observer || !victim) throw new Error('three agents expected');

    const mine = (await runtime.workloads(job, agents)).filter((w) => w.owner === victim.peerId);
    expect(mine).toHaveLength(1);
    const before = mine[0]!;
    const statusBefore = (await running(observer, job)).find((s) => s.allocId === before.allocId);
    expect(statusBefore).toBeDefined();
    expect(kinds((await detail(victim, before.allocId)).events)).toEqual(['placed', 'started']);

    await killHard(victim);
    // The workload does not depend on its agent being alive.
    const orphan = (await runtime.workloads(job, agents)).find((w) => w.allocId === before.allocId);
    expect(orphan).toEqual(before);

    await restartMeshd(victim, [bootstrap], options);
    // From its own disk, before any peer could have told it: the job was persisted before the copy started.
    // (Without that, the adopted copy belongs to a job the agent has never heard of, and it stops it.)
    expect((await apiGet<JobDetail>(victim, `/v1/jobs/${job}`)).name).toBe(job);
    let lastSeen: unknown;
    await waitFor(
      'the restarted agent to adopt its copy and place it on itself',
      async () => {
        const seen = await detail(victim, before.allocId);
        lastSeen = seen;
        return kinds(seen.events).includes('adopted') && seen.desired?.desired === 'run';
      },
      30_000,
      () => JSON.stringify(lastSeen),
    );
    const adopted = await detail(victim, before.allocId);
    expect(adopted.desired).toMatchObject({ desired: 'run', node: victim.peerId });
    // Adopted, nothing started: the event ring of the new process holds the adoption only.
    expect(kinds(adopted.events)).toEqual(['adopted']);
    expect(adopted.status).toMatchObject({
      state: 'running',
      restarts: statusBefore!.restarts,
      startedAt: statusBefore!.startedAt,
    });

    const after = await runtime.workloads(job, agents);
    expect(after).toHaveLength(3);
    expect(after.find((w) => w.allocId === before.allocId)).toEqual(before);
    // Every other agent still sees the same replicated status: no restart was recorded anywhere.
    await waitFor(
      'the survivors to see the restarted agent alive',
      async () => (await apiGet<{ peers: { alive: number } }>(observer, '/v1/status')).peers.alive === 2,
    );
    const replicated = (await statuses(observer, job)).find((s) => s.allocId === before.allocId);
    // Matched, not equal: the owner may meanwhile have written the copy's one-time rollout verdict.
    expect(replicated).toMatchObject(statusBefore!);
    expect(await running(observer, job)).toHaveLength(3);
  });

  test(`a ${runtime.noun.one} that exits is restarted per its policy, then failed with the reason`, async () => {
    const job = newJob('exit');
    await submit(job, 'sleep 0.3; exit 3', [
      'count: 1',
      'restart: { attempts: 2, interval: 1m, delay: 100ms, mode: fail }',
    ]);
    const [observer] = agents;
    if (!observer) throw new Error('no agents');
    // The first copy (slot 0, generation 0); once it fails, placement replaces it under a new id elsewhere.
    let first: AllocStatus | undefined;
    await waitFor('the first copy to be reported', async () => {
      first = (await statuses(observer, job)).find((s) => s.allocId.startsWith(`${job}.0.0.`));
      return first !== undefined;
    });
    const owner = agents.find((a) => a.peerId === first!.node);
    if (!owner) throw new Error(`no agent owns ${first!.allocId}`);
    const allocId = first!.allocId;

    await waitFor(
      'the copy to fail after its restarts',
      async () => (await detail(owner, allocId)).status?.state === 'failed',
      45_000,
    );
    const reason = /^exited with code 3; gave up after 2 restarts within 1m \(restart mode fail\)$/;
    const failed = await detail(owner, allocId);
    expect(failed.status).toMatchObject({ state: 'failed', restarts: 2 });
    expect(failed.status?.lastError).toMatch(reason);
    expect(kinds(failed.events)).toEqual([
      'placed',
      'started',
      'exited',
      'restarted',
      'exited',
      'restarted',
      'failed',
    ]);
    expect(failed.events?.filter((e) => e.kind === 'exited').map((e) => e.reason)).toEqual([
      'exited with code 3; restart 1 of 2 within 1m',
      'exited with code 3; restart 2 of 2 within 1m',
    ]);
    expect(failed.events?.at(-1)?.reason).toMatch(reason);

    // What an operator sees: `meshctl alloc status` on the owner shows the count, the reason and the events.
    const shown = await meshctl([
      '--api',
      owner.api,
      '--data-dir',
      owner.dataDir,
      'alloc',
      'status',
      allocId,
    ]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^State: +failed \(exit 3\)$/m);
    expect(shown.stdout).toMatch(/^Restarts: +2$/m);
    expect(shown.stdout).toMatch(/^Last error: +exited with code 3; gave up after 2 restarts/m);
    expect(shown.stdout.match(/^\S+ ago +restarted +/gm)).toHaveLength(2);
    expect(shown.stdout).toMatch(/^\S+ ago +failed +exited with code 3; gave up after 2 restarts/m);

    // The failed status is replicated: another agent reports the same reason.
    const other = agents.find((a) => a !== owner)!;
    await waitFor('another agent to see the failure', async () =>
      (await statuses(other, job)).some((s) => s.allocId === allocId && s.state === 'failed'),
    );
    expect((await statuses(other, job)).find((s) => s.allocId === allocId)).toEqual(failed.status);
    expect(failed.status).toMatchObject({ state: 'failed', exitCode: 3 });
    // A failed copy's workload stays, exited, for `alloc logs`, until the finished-copy GC removes it.
    const left = (await runtime.workloads(job, agents)).filter((w) => w.allocId === allocId);
    expect(left).toEqual([expect.objectContaining({ running: false })]);
  });
});
