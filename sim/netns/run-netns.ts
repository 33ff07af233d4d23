import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { API_TOKEN_FILE } from '../../src/node/api/api-token.js';
import { CopyLedger } from '../fault/ledger.js';
import { timingsFor } from '../fault/run-scenario.js';
import {
  progress as log,
  round,
  runSteps,
  type ScenarioReport,
  scenarioReport,
  sleep,
} from '../run-steps.js';
import type { Action, Scenario } from '../scenario.js';
import { agentRequest } from './agent-request.js';
import { kill, pids, Topology } from './topology.js';

/**
 * The checkout this file is in (from sim/netns/ or from dist/build/sim/netns/). tsc copies package.json into
 * dist/build (src/version.ts imports it), so that copy is not the root.
 */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || dir.endsWith(join('dist', 'build'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the project root above the simulator');
    dir = up;
  }
  return dir;
}

const ROOT = projectRoot();
const MESHD = join(ROOT, 'dist', 'meshd.mjs');
const RELAY = join(ROOT, 'dist', 'build', 'sim', 'netns', 'api-relay.js');
const API_PORT = 7411;
const MESH_PORT = 4001;

const progress = (message: string) => log(`netns ${message}`);

/** A workload process found in a namespace: the exec driver marks each with its alloc and job. */
interface Seen {
  node: number;
  pid: number;
  allocId: string;
  job: string;
}

export function jobSource(name: string, count: number): string {
  return [
    `name: ${name}`,
    'driver: exec',
    'command: /bin/sleep',
    'args: ["100000"]',
    `count: ${count}`,
    'resources: { cpu: 10, memory: 4 }',
  ].join('\n');
}

function nodeIndex(name: string): number {
  const m = /^n(\d+)$/.exec(name);
  if (!m) throw new Error(`node names are n0..n<N-1>, got "${name}"`);
  return Number(m[1]);
}

/**
 * The same scenario files against meshd processes (dist/meshd.mjs, the exec driver running real `sleep`
 * processes), each in its own network namespace, faults as iptables rules. Link shaping (latency, bandwidth)
 * has no kernel tool here (no tc netem) and is refused; message loss becomes random packet loss.
 */
export async function runNetnsScenario(scenario: Scenario): Promise<ScenarioReport> {
  const began = performance.now();
  const now = () => performance.now();
  for (const step of scenario.steps)
    if (step.do.kind === 'link')
      throw new Error(`${scenario.name}: netns mode cannot shape links (this kernel has no tc netem)`);
  for (const [file, make] of [
    [MESHD, 'npm run bundle'],
    [RELAY, 'npm run build'],
  ] as const)
    if (!existsSync(file)) throw new Error(`netns mode runs ${file}: run \`${make}\` first`);
  const topo = new Topology(`myc${process.pid % 100_000}`, scenario.nodes);
  const root = await mkdtemp(join(tmpdir(), 'mycel-netns-'));
  const timings = timingsFor(scenario.scale);
  const agents = new Map<number, ChildProcess>();
  const relays: ChildProcess[] = [];
  const crashed = new Set<number>();
  const startFailures: string[] = [];
  const ledger = new CopyLedger();
  const acked = new Set<string>();
  let peakRssKb = 0;

  const socket = (i: number) => join(root, `api-${i}.sock`);
  // Each agent makes its API token at first start; read it per call, as meshctl would.
  const token = (i: number) => readFileSync(join(root, `n${i}`, API_TOKEN_FILE), 'utf8').trim();
  // Async, so a token not written yet is a failed call (the mesh-forming poll retries it), not a throw.
  const api = async (i: number, method: string, path: string, body?: unknown) =>
    apiCall(socket(i), token(i), method, path, body);
  const startAgent = (i: number) => {
    const dataDir = join(root, `n${i}`);
    const log = openSync(join(root, `n${i}.log`), 'a');
    const args = [
      'netns',
      'exec',
      topo.ns(i),
      process.execPath,
      MESHD,
      '--name',
      `n${i}`,
      '--data-dir',
      dataDir,
      '--listen',
      `/ip4/0.0.0.0/tcp/${MESH_PORT}`,
      '--api',
      `127.0.0.1:${API_PORT}`,
      '--driver',
      'exec',
      '--log-level',
      process.env.SIM_AGENT_LOG_LEVEL ?? 'warn',
      '--heartbeat-interval-ms',
      String(timings.heartbeatIntervalMs),
      '--suspect-after-ms',
      String(timings.suspectAfterMs),
      '--lost-after-ms',
      String(timings.lostAfterMs),
    ];
    for (const j of [0, i - 1])
      if (j >= 0 && j !== i) args.push('--join', `/ip4/${topo.ip(j)}/tcp/${MESH_PORT}`);
    agents.set(i, spawn('ip', args, { stdio: ['ignore', log, log] }));
  };
  const crash = (i: number) => {
    const relayPids = new Set(relays.map((r) => r.pid));
    for (const pid of pids(topo.ns(i))) if (!relayPids.has(pid)) kill(pid);
    agents.delete(i);
    crashed.add(i);
  };

  try {
    topo.create();
    for (let i = 0; i < scenario.nodes; i++) {
      relays.push(
        spawn('ip', ['netns', 'exec', topo.ns(i), process.execPath, RELAY, socket(i), String(API_PORT)], {
          stdio: 'ignore',
        }),
      );
      startAgent(i);
    }
    progress(
      `${scenario.name}: ${scenario.nodes} agents in namespaces ${topo.ns(0)}..; timings ${JSON.stringify(timings)}`,
    );
    const all = Array.from({ length: scenario.nodes }, (_, i) => i);
    const meshDeadline = now() + 120_000;
    while (now() < meshDeadline) {
      const alive = await Promise.all(
        all.map((i) =>
          api(i, 'GET', '/v1/status').then(
            (s) => aliveOf(s),
            () => -1,
          ),
        ),
      );
      if (alive.every((a) => a >= scenario.nodes - 1)) break;
      await sleep(500);
    }
    progress(`mesh formed after ${round((now() - began) / 1000)} s`);
    for (const job of scenario.jobs) {
      await submit(api, job.name, job.count, job.on, acked);
      ledger.want(job.name, job.count);
    }
    const truth = () => workloads(topo, relays);
    const initialDeadline = now() + 90_000;
    while (now() < initialDeadline && !ledger.exact(copiesOf(truth()))) await sleep(500);
    if (!ledger.exact(copiesOf(truth()))) startFailures.push('initial jobs never ran their count');
    const startup = (now() - began) / 1000;

    const baseline = truth();
    const traffic0 = all.map((i) => topo.traffic(i));
    const restarted = new Set<string>();
    const stoppedOriginals = new Set<string>();
    // Every running agent gives the same answer (by `key`) to one API path.
    const agree = async (path: string, key: (body: unknown) => string) => {
      const answers = await Promise.all(
        [...agents.keys()].map((i) => api(i, 'GET', path).then(key, () => undefined)),
      );
      return answers.every((a) => a !== undefined && a === answers[0]);
    };
    const run = await runSteps(
      scenario,
      {
        perform,
        look: () => {
          const seen = truth();
          for (const original of baseline) {
            if (crashed.has(original.node)) continue;
            const key = `${original.allocId} on n${original.node}`;
            const same = seen.find((w) => w.node === original.node && w.allocId === original.allocId);
            if (same && same.pid !== original.pid) restarted.add(key);
            // Gone, then back under the same alloc id with a new process: also a restart.
            if (!same) stoppedOriginals.add(key);
            else if (stoppedOriginals.has(key)) restarted.add(key);
          }
          for (const [i] of agents) peakRssKb = Math.max(peakRssKb, ...pids(topo.ns(i)).map(Topology.rssKb));
          return copiesOf(seen);
        },
        copies: () => copiesOf(truth()),
        statesAgree: () => agree('/v1/jobs', jobsKey),
        placementsAgree: () => agree('/v1/allocs', allocsKey),
      },
      ledger,
      { tickMs: 500, lostAfterMs: timings.lostAfterMs, log: progress },
    );
    const lost: string[] = [];
    for (const job of acked) {
      const everywhere = await Promise.all(
        [...agents.keys()].map((i) =>
          api(i, 'GET', '/v1/jobs').then(
            (jobs) =>
              (jobs as { name: string; desired?: string }[]).some(
                (j) => j.name === job && j.desired === 'running',
              ),
            () => false,
          ),
        ),
      );
      if (!everywhere.every(Boolean)) lost.push(job);
    }
    const traffic1 = all.map((i) => topo.traffic(i));
    const per = (f: (t: ReturnType<Topology['traffic']>) => number) =>
      round(
        traffic1.reduce((s, t, i) => s + f(t) - f(traffic0[i] as ReturnType<Topology['traffic']>), 0) /
          scenario.nodes /
          run.runSeconds,
      );
    return scenarioReport(scenario, 'netns', ledger, run, {
      startFailures,
      lostJobs: lost,
      restartedOriginals: [...restarted],
      stoppedOriginals: stoppedOriginals.size,
      perNodePerSecond: {
        packetsIn: per((t) => t.rxPackets),
        packetsOut: per((t) => t.txPackets),
        bytesOut: per((t) => t.txBytes),
      },
      peakRssMb: Math.round(peakRssKb / 1024),
      startupS: startup,
      totalS: (now() - began) / 1000,
    });
  } finally {
    topo.destroy();
    for (const r of relays) r.kill('SIGKILL');
    // SIM_KEEP_LOGS=1 keeps the agents' logs and data dirs for a post-mortem.
    if (process.env.SIM_KEEP_LOGS) progress(`kept the agents' logs and data in ${root}`);
    else await rm(root, { recursive: true, force: true });
  }

  async function perform(action: Action): Promise<void> {
    switch (action.kind) {
      case 'partition':
        topo.partition(action.groups.map((g) => g.map(nodeIndex)));
        return;
      case 'heal':
        topo.heal();
        return;
      case 'cut':
        topo.cut(nodeIndex(action.from), nodeIndex(action.to));
        return;
      case 'no-dial':
        topo.noDial(nodeIndex(action.from), nodeIndex(action.to));
        return;
      case 'flap':
        throw new Error('flap is expanded into partition and heal steps before the run');
      case 'link':
        throw new Error('netns mode cannot shape links (this kernel has no tc netem)');
      case 'loss':
        if (action.node !== undefined) throw new Error('netns mode applies loss to every node, not one');
        topo.loss(action.fraction);
        return;
      case 'crash':
        crash(nodeIndex(action.node));
        return;
      case 'restart':
        startAgent(nodeIndex(action.node));
        return;
      case 'isolate':
        topo.isolate(nodeIndex(action.node), true);
        return;
      case 'rejoin':
        topo.isolate(nodeIndex(action.node), false);
        return;
      case 'ip-change':
        topo.changeAddress(nodeIndex(action.node));
        return;
      case 'submit':
        await submit(api, action.job, action.count, action.on, acked);
        ledger.want(action.job, action.count);
        return;
    }
  }
}

async function submit(
  api: (i: number, method: string, path: string, body?: unknown) => Promise<unknown>,
  job: string,
  count: number,
  on: string,
  acked: Set<string>,
): Promise<void> {
  await api(nodeIndex(on), 'POST', '/v1/jobs', { source: jobSource(job, count), fileName: `${job}.yaml` });
  progress(`submitted ${job} (count ${count}) on ${on}`);
  acked.add(job);
}

export function aliveOf(status: unknown): number {
  return (status as { peers?: { alive?: number } }).peers?.alive ?? -1;
}

export function jobsKey(jobs: unknown): string {
  return JSON.stringify(
    (jobs as { name: string; status: string; version: number }[]).map((j) => [j.name, j.status, j.version]),
  );
}

export function allocsKey(allocs: unknown): string {
  return JSON.stringify(
    (allocs as { allocId: string; node: string; desired: string }[])
      .filter((a) => a.desired === 'run' || a.desired === 'unknown')
      .map((a) => `${a.allocId}@${a.node}`),
  );
}

function copiesOf(seen: readonly Seen[]): Map<string, number> {
  const copies = new Map<string, number>();
  for (const w of seen) copies.set(w.job, (copies.get(w.job) ?? 0) + 1);
  return copies;
}

/** The workload processes running in every agent namespace, read from /proc. */
function workloads(topo: Topology, relays: readonly ChildProcess[]): Seen[] {
  const skip = new Set(relays.map((r) => r.pid));
  const seen: Seen[] = [];
  for (let i = 0; i < topo.size; i++)
    for (const pid of pids(topo.ns(i))) {
      if (skip.has(pid)) continue;
      let environ: string;
      try {
        environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      } catch {
        continue;
      }
      const vars = new Map(
        environ
          .split('\0')
          .filter((kv) => kv.startsWith('MYCEL_'))
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const),
      );
      const allocId = vars.get('MYCEL_ALLOC_ID');
      const job = vars.get('MYCEL_JOB');
      if (allocId && job) seen.push({ node: i, pid, allocId, job });
    }
  return seen;
}

async function apiCall(
  socketPath: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  // A submit answers once the job is on disk; on a loaded machine that takes seconds.
  const text = await agentRequest(socketPath, token, method, path, body, 30_000);
  return text ? JSON.parse(text) : undefined;
}
