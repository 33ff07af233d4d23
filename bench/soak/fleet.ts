import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { agentRequest } from '../../sim/netns/agent-request.js';
import { aliveOf, allocsKey, jobsKey, projectRoot } from '../../sim/netns/run-netns.js';
import { kill, Topology } from '../../sim/netns/topology.js';
import { sleep } from '../../sim/run-steps.js';
import { API_TOKEN_FILE } from '../../src/node/api/api-token.js';

const ROOT = projectRoot();
const MESHD = join(ROOT, 'dist', 'meshd.mjs');
const RELAY = join(ROOT, 'dist', 'build', 'sim', 'netns', 'api-relay.js');
const API_PORT = 7411;
const MESH_PORT = 4001;

/**
 * The soak's agents: one meshd process per network namespace of the simulator's Topology, each reached through
 * the simulator's api relay on a unix socket. Unlike a netns scenario, the agents run with their default
 * (real-time) timings and the exec driver, and a kill takes only meshd: its workloads live on to be adopted.
 */
export class SoakFleet {
  readonly topo: Topology;
  readonly size: number;
  readonly #root: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #agents = new Map<number, ChildProcess>();
  readonly #relays: ChildProcess[] = [];

  constructor(size: number, root: string, env: Record<string, string>) {
    for (const [file, make] of [
      [MESHD, 'npm run bundle'],
      [RELAY, 'npm run build'],
    ] as const)
      if (!existsSync(file)) throw new Error(`the soak runs ${file}: run \`${make}\` first`);
    this.topo = new Topology(`soak${process.pid % 10_000}`, size);
    this.size = size;
    this.#root = root;
    this.#env = { ...process.env, ...env };
  }

  create(): void {
    this.topo.create();
    for (let i = 0; i < this.size; i++) {
      this.#relays.push(
        spawn(
          'ip',
          ['netns', 'exec', this.topo.ns(i), process.execPath, RELAY, this.#socket(i), String(API_PORT)],
          { stdio: 'ignore' },
        ),
      );
      this.start(i);
    }
  }

  start(i: number): void {
    const log = openSync(join(this.#root, `n${i}.log`), 'a');
    const args = [
      'netns',
      'exec',
      this.topo.ns(i),
      process.execPath,
      MESHD,
      '--name',
      `n${i}`,
      '--label',
      `soak=n${i}`,
      '--data-dir',
      join(this.#root, `n${i}`),
      '--listen',
      `/ip4/0.0.0.0/tcp/${MESH_PORT}`,
      '--api',
      `127.0.0.1:${API_PORT}`,
      '--driver',
      'exec',
      '--log-level',
      'warn',
    ];
    for (const j of [0, i - 1])
      if (j >= 0 && j !== i) args.push('--join', `/ip4/${this.topo.ip(j)}/tcp/${MESH_PORT}`);
    // `ip netns exec` execs the command: the child's pid is meshd's, whose RSS we read.
    this.#agents.set(i, spawn('ip', args, { stdio: ['ignore', log, log], env: this.#env }));
  }

  /** kill -9 of the agent alone, as a crash of meshd (not of the device) would be. */
  kill(i: number): void {
    const pid = this.#agents.get(i)?.pid;
    if (pid !== undefined) kill(pid);
    this.#agents.delete(i);
  }

  running(): number[] {
    return [...this.#agents.keys()].sort((a, b) => a - b);
  }

  pid(i: number): number | undefined {
    return this.#agents.get(i)?.pid;
  }

  #socket(i: number): string {
    return join(this.#root, `api-${i}.sock`);
  }

  /** The agent makes its token at first start: read per call, as meshctl would. */
  text(i: number, method: string, path: string, body?: unknown, timeoutMs?: number): Promise<string> {
    let token: string;
    try {
      token = readFileSync(join(this.#root, `n${i}`, API_TOKEN_FILE), 'utf8').trim();
    } catch (err) {
      return Promise.reject(err);
    }
    return agentRequest(this.#socket(i), token, method, path, body, timeoutMs);
  }

  async api(i: number, method: string, path: string, body?: unknown): Promise<unknown> {
    const text = await this.text(i, method, path, body);
    return text ? JSON.parse(text) : undefined;
  }

  /** Every running agent gives the same answer (by `key`) to one API path. */
  async #agree(path: string, key: (body: unknown) => string): Promise<boolean> {
    const answers = await Promise.all(
      this.running().map((i) => this.api(i, 'GET', path).then(key, () => undefined)),
    );
    return answers.every((a) => a !== undefined && a === answers[0]);
  }

  /** Identical state and placement on every agent, judged as the netns simulator judges them. */
  async converged(): Promise<boolean> {
    return (await this.#agree('/v1/jobs', jobsKey)) && (await this.#agree('/v1/allocs', allocsKey));
  }

  /** Every agent sees every other one alive. */
  async allAlive(): Promise<boolean> {
    const alive = await Promise.all(
      this.running().map((i) => this.api(i, 'GET', '/v1/status').then(aliveOf, () => -1)),
    );
    return this.running().length === this.size && alive.every((a) => a >= this.size - 1);
  }

  /** Polls `check` every `everyMs` until it holds: the seconds it took, or null past `timeoutMs`. */
  async until(check: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<number | null> {
    const began = performance.now();
    while (performance.now() - began < timeoutMs) {
      if (await check().catch(() => false)) return (performance.now() - began) / 1000;
      await sleep(everyMs);
    }
    return null;
  }

  /** Every process in the namespaces (agents, relays, workloads) killed, the namespaces removed. */
  destroy(): void {
    this.topo.destroy();
    for (const r of this.#relays) r.kill('SIGKILL');
    for (const a of this.#agents.values()) a.kill('SIGKILL');
  }
}
