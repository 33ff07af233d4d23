/**
 * Staged rollouts through whole agents: a 3-agent mesh, each agent placing on its own replica and running its
 * own share through a real driver, a control API over one agent for `meshctl job status`, and a sampler that
 * records, every few milliseconds, what every agent's replica says runs.
 */
import { isDeepStrictEqual } from 'node:util';
import { pino } from 'pino';
import { expect } from 'vitest';
import { type JobSpec, type JobSpecInput, validateJobSpec } from '../../src/crdt/job-spec.js';
import type { AllocStatus } from '../../src/crdt/records.js';
import type { Agent } from '../../src/node/agent.js';
import { ControlApi } from '../../src/node/api/control-api.js';
import { jobVersionRoutes } from '../../src/node/api/routes/job-version-routes.js';
import { placementRoutes } from '../../src/node/api/routes/placement-routes.js';
import { signedRoutes } from '../../src/node/api/routes/signed-routes.js';
import { stateRoutes } from '../../src/node/api/routes/state-routes.js';
import type { DriverName } from '../../src/node/drivers/driver.js';
import type { Rollout } from '../../src/scheduler/types.js';
import {
  FAST_WORKLOADS,
  joinAddress,
  meshFormed,
  startAgent,
  tempDir,
  testConfig,
  waitFor,
} from '../support/agents.js';
import { meshctl } from '../support/processes.js';

/** Health checks every 200 ms instead of the spec's 1 s minimum. */
const ENV = { ...FAST_WORKLOADS, workloads: { ...FAST_WORKLOADS.workloads, healthIntervalScale: 0.2 } };

export function spec(input: Partial<JobSpecInput>): JobSpec {
  const result = validateJobSpec({ count: 3, resources: { cpu: 100, memory: 32 }, ...input });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.spec;
}

export const LIVE: readonly AllocStatus['state'][] = ['pending', 'starting', 'running'];

export class RolloutMesh {
  readonly agents: Agent[] = [];
  /** The most copies of each `job@version` any agent's replica ever showed live at once. */
  readonly peakLive = new Map<string, number>();
  /** The most copies of `job@version` ever live and not yet judged healthy at once. */
  readonly peakUnsettled = new Map<string, number>();
  readonly #cleanups: (() => Promise<void>)[] = [];
  readonly #jobs = new Set<string>();
  #sampler: NodeJS.Timeout | undefined;
  #api: { url: string; close: () => Promise<void> } | undefined;

  static async start(driver: DriverName): Promise<RolloutMesh> {
    const mesh = new RolloutMesh();
    for (let i = 0; i < 3; i++) {
      const dir = await tempDir();
      mesh.#cleanups.push(dir.cleanup);
      const join = mesh.agents[0] ? [joinAddress(mesh.agents[0])] : [];
      mesh.agents.push(await startAgent(testConfig({ dataDir: dir.path, name: `r${i}`, join, driver }), ENV));
    }
    await waitFor('every agent to hold three node records and hear the other two', () =>
      meshFormed(mesh.agents),
    );
    const first = mesh.agents[0]!;
    const api = new ControlApi(
      [
        ...stateRoutes(first),
        ...placementRoutes(first.workloads.placement, first),
        ...jobVersionRoutes(first),
        ...signedRoutes(first),
      ],
      pino({ level: 'silent' }),
    );
    const { port } = await api.listen('127.0.0.1:0', false);
    mesh.#api = { url: `http://127.0.0.1:${port}`, close: () => api.close() };
    mesh.#sampler = setInterval(() => mesh.#sample(), 20);
    return mesh;
  }

  async submit(job: JobSpec): Promise<number> {
    this.#jobs.add(job.name);
    const { version } = await this.agents[1]!.state.submitJob(job);
    return version;
  }

  statuses(job: string, agent = this.agents[0]!): AllocStatus[] {
    return agent.state.state.allocations().filter((a) => a.job === job);
  }

  /** Every agent's replica shows exactly `count` live copies of the job, all of `version` and judged healthy. */
  async settledOn(job: string, version: number, count: number, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `every agent to see ${count} healthy copies of ${job} v${version} and nothing else live`,
      () =>
        this.agents.every((a) => {
          const live = this.statuses(job, a).filter((s) => LIVE.includes(s.state));
          return (
            live.length === count &&
            live.every(
              (s) => s.jobVersion === version && s.state === 'running' && s.verdict?.healthy === true,
            )
          );
        }),
      timeoutMs,
      () => this.describe(job),
    );
  }

  /**
   * Waits until every agent's placement (a few ms behind its replica) derives the very same rollout, and it
   * matches `expected`; returns it.
   */
  async rolloutEverywhere(job: string, expected: Record<string, unknown>): Promise<Rollout> {
    const all = () => this.agents.map((a) => a.workloads.placement.explain(job)?.rollout);
    const agreed = () => {
      const [first, ...rest] = all();
      if (first === undefined || rest.some((r) => !isDeepStrictEqual(r, first))) return undefined;
      return first;
    };
    await waitFor(
      `every agent to derive the same rollout of ${job}, matching ${JSON.stringify(expected)}`,
      () => {
        try {
          expect(agreed()).toMatchObject(expected);
          return true;
        } catch {
          return false;
        }
      },
      60_000,
      () => JSON.stringify(all()),
    );
    return agreed()!;
  }

  async jobStatus(job: string): Promise<string> {
    return this.meshctl(['job', 'status', job]);
  }

  /** meshctl against the first agent's control API; it must succeed. */
  async meshctl(args: string[]): Promise<string> {
    const result = await meshctl(['--api', this.#api!.url, ...args]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return result.stdout;
  }

  describe(job: string): string {
    return this.agents
      .map(
        (a) =>
          `${a.config.name}: ${this.statuses(job, a)
            .map(
              (s) =>
                `${s.allocId}@v${s.jobVersion}:${s.state}/${s.health}/${
                  s.verdict === undefined ? '-' : s.verdict.healthy ? 'ok' : `bad(${s.verdict.reason})`
                }`,
            )
            .join(' ')} rollout=${JSON.stringify(a.workloads.placement.explain(job)?.rollout)}`,
      )
      .join('\n');
  }

  async stop(): Promise<void> {
    clearInterval(this.#sampler);
    await this.#api?.close();
    for (const a of this.agents)
      for (const job of this.#jobs) await a.state.stopJob(job, true).catch(() => {});
    // The owners stop their workloads once the purge reaches them.
    await waitFor('every workload to stop', () =>
      this.agents.every((a) =>
        [...this.#jobs].every((job) =>
          this.statuses(job, a).every((s) => s.node !== a.peerId || !LIVE.includes(s.state)),
        ),
      ),
    ).catch(() => {});
    await Promise.all(this.agents.map((a) => a.stop()));
    await Promise.all(this.#cleanups.map((c) => c()));
  }

  #sample(): void {
    for (const a of this.agents) {
      const live = new Map<string, number>();
      const unsettled = new Map<string, number>();
      for (const s of a.state.state.allocations()) {
        if (!LIVE.includes(s.state)) continue;
        const key = `${s.job}@${s.jobVersion}`;
        live.set(key, (live.get(key) ?? 0) + 1);
        if (s.verdict?.healthy !== true) unsettled.set(key, (unsettled.get(key) ?? 0) + 1);
      }
      for (const [key, n] of live) this.peakLive.set(key, Math.max(this.peakLive.get(key) ?? 0, n));
      for (const [key, n] of unsettled)
        this.peakUnsettled.set(key, Math.max(this.peakUnsettled.get(key) ?? 0, n));
    }
  }
}
