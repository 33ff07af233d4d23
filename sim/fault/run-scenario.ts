import { performance } from 'node:perf_hooks';
import { canonicalJson } from '../../src/crdt/canonical-json.js';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { JobSpec } from '../../src/crdt/job-spec.js';
import type { Agent } from '../../src/node/agent.js';
import { type Action, expandSteps, type Scenario } from '../scenario.js';
import { FaultNetwork } from './fault-network.js';
import { Fleet, type FleetTimings } from './fleet.js';
import { CopyLedger, originalsOutcome } from './ledger.js';

/** Production defaults (src/node/config.ts, state-service.ts) that the scale divides. */
const PRODUCTION = {
  heartbeatIntervalMs: 2_000,
  suspectAfterMs: 6_000,
  lostAfterMs: 20_000,
  syncIntervalMs: 30_000,
};

export interface ScenarioReport {
  scenario: string;
  mode: 'in-process' | 'netns';
  nodes: number;
  scale: number;
  ok: boolean;
  failures: string[];
  /** Seconds after the last step (simulated; real = simulated / scale). */
  convergeS: { state: number | null; placement: number | null };
  duplicateAllocSeconds: number;
  missingAllocSeconds: number;
  restartsOfSurvivingOriginals: number;
  survivingOriginalsStopped: number;
  acknowledgedJobsLost: number;
  /** In process: gossip messages received and lost, bytes sent. In netns: eth0 packets and bytes. */
  perNodePerSecond: Record<string, number>;
  peakRssMb: number;
  realSeconds: { startup: number; run: number; total: number };
  /** On failure: where each job's copies run, and what each agent's placement wants. */
  diagnosis?: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every awaited step of a run has a deadline: a hang becomes a failure that names the step. */
export async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
const progress = (message: string) =>
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${message}\n`);

export function timingsFor(scale: number): FleetTimings {
  const s = (ms: number) => Math.max(50, Math.round(ms / scale));
  return {
    heartbeatIntervalMs: s(PRODUCTION.heartbeatIntervalMs),
    suspectAfterMs: s(PRODUCTION.suspectAfterMs),
    lostAfterMs: s(PRODUCTION.lostAfterMs),
    syncIntervalMs: s(PRODUCTION.syncIntervalMs),
    debounceMs: 50,
    pollMs: 250,
  };
}

export function simJob(name: string, count: number): JobSpec {
  const parsed = parseJobFile(
    [
      `name: ${name}`,
      'driver: exec',
      'command: /bin/true',
      `count: ${count}`,
      'resources: { cpu: 10, memory: 4 }',
    ].join('\n'),
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.spec;
}

/** Each running agent's desired placement, to compare. */
function placementOf(agent: Agent): string {
  return agent.workloads.placement
    .allocs()
    .filter((r) => r.desired === 'run' || r.desired === 'unknown')
    .map((r) => `${r.allocId}@${r.node}`)
    .join(',');
}

function allEqual(values: readonly string[]): boolean {
  return values.every((v) => v === values[0]);
}

/**
 * Runs one scenario against an in-process fleet and reports. The run fails (ok: false) when an acknowledged
 * job is lost, state or placement does not converge within `settleS`, any job runs more than `count` copies
 * after convergence, or a surviving original was restarted.
 */
export async function runScenario(scenario: Scenario): Promise<ScenarioReport> {
  const began = performance.now();
  const now = () => performance.now();
  let seed = 0x2545f491;
  const random = () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const timings = timingsFor(scenario.scale);
  const network = new FaultNetwork({ now, random, tcpTimeoutMs: timings.lostAfterMs * 3 });
  const fleet = await Fleet.create(network, timings, scenario.nodes);
  const failures: string[] = [];
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 200);
  const ledger = new CopyLedger();
  const acked = new Set<string>();
  try {
    progress(`${scenario.name}: starting ${scenario.nodes} agents (timings ${JSON.stringify(timings)})`);
    await within(60_000 + scenario.nodes * 2_000, 'starting the fleet', fleet.startAll());
    const meshDeadline = now() + 60_000 + scenario.nodes * 500;
    while (!fleet.running.every((a) => a.status().peers.alive >= scenario.nodes - 1) && now() < meshDeadline)
      await sleep(100);
    progress(`mesh formed: ${fleet.running.map((a) => a.status().peers.alive).join(' ')}`);

    for (const job of scenario.jobs) {
      await submit(fleet, job.name, job.count, job.on, acked);
      ledger.want(job.name, job.count);
    }
    const initialDeadline = now() + 120_000;
    while (!(ledger.exact(fleet.runtime.copiesPerJob()) && placementsAgree(fleet)) && now() < initialDeadline)
      await sleep(100);
    if (!ledger.exact(fleet.runtime.copiesPerJob())) failures.push('initial jobs never ran their count');
    const startup = (now() - began) / 1000;

    // Faults begin.
    const t0 = now();
    const baseline = fleet.runtime.all();
    const counters0 = snapshotCounters(network, fleet.names);
    const steps = expandSteps(scenario.steps);
    const realMs = (simS: number) => (simS * 1000) / scenario.scale;
    let stepIndex = 0;
    let lastStepAt = t0;
    const lastStepS = steps.at(-1)?.at ?? 0;
    const settleDeadline = t0 + realMs(lastStepS + scenario.settleS);
    let stateAt: number | null = null;
    let placementAt: number | null = null;
    let maxCopiesAfterConvergence: string[] = [];
    const tickMs = scenario.nodes > 50 ? 500 : 100;
    while (now() < settleDeadline) {
      while (stepIndex < steps.length && now() - t0 >= realMs((steps[stepIndex] as (typeof steps)[0]).at)) {
        const step = steps[stepIndex++] as (typeof steps)[0];
        progress(`t=${step.at}s ${JSON.stringify(step.do)}`);
        await within(
          30_000,
          `step ${JSON.stringify(step.do)}`,
          perform(fleet, network, step.do, acked, ledger),
        );
        lastStepAt = now();
        stateAt = null;
        placementAt = null;
      }
      const copies = fleet.runtime.copiesPerJob();
      ledger.sample(now(), copies);
      if (stepIndex >= steps.length) {
        if (stateAt === null && statesAgree(fleet)) stateAt = now();
        if (placementAt === null && ledger.exact(copies) && placementsAgree(fleet)) placementAt = now();
        if (placementAt !== null) maxCopiesAfterConvergence.push(...ledger.overCount(copies));
        // Converged, and held for a lost-period: nothing left to see.
        if (
          stateAt !== null &&
          placementAt !== null &&
          now() - Math.max(stateAt, placementAt) > timings.lostAfterMs * 2
        )
          break;
      }
      await sleep(tickMs);
    }
    const runSeconds = (now() - t0) / 1000;
    maxCopiesAfterConvergence = [...new Set(maxCopiesAfterConvergence)];
    if (stateAt === null) failures.push('state did not converge');
    if (placementAt === null)
      failures.push(
        `placement did not converge: copies ${JSON.stringify(Object.fromEntries(fleet.runtime.copiesPerJob()))}`,
      );
    failures.push(...maxCopiesAfterConvergence.map((m) => `after convergence ${m}`));
    const lost = lostJobs(fleet, acked);
    failures.push(...lost.map((j) => `acknowledged job lost: ${j}`));
    const originals = originalsOutcome(baseline, fleet.runtime.events, t0, fleet.survivors());
    failures.push(...originals.restarted.map((r) => `surviving original restarted: ${r}`));
    const traffic = trafficSince(network, fleet.names, counters0, runSeconds);
    const sim = (ms: number | null) =>
      ms === null ? null : Math.round(((ms - lastStepAt) / 1000) * scenario.scale * 10) / 10;
    const total = (now() - began) / 1000;
    return {
      scenario: scenario.name,
      mode: 'in-process',
      nodes: scenario.nodes,
      scale: scenario.scale,
      ok: failures.length === 0,
      failures,
      convergeS: { state: sim(stateAt), placement: sim(placementAt) },
      duplicateAllocSeconds: round(ledger.duplicateSeconds * scenario.scale),
      missingAllocSeconds: round(ledger.missingSeconds * scenario.scale),
      restartsOfSurvivingOriginals: originals.restarted.length,
      survivingOriginalsStopped: originals.stopped,
      acknowledgedJobsLost: lost.length,
      perNodePerSecond: traffic,
      peakRssMb: Math.round(peakRss / 1024 / 1024),
      realSeconds: { startup: round(startup), run: round(runSeconds), total: round(total) },
      ...(failures.length > 0 ? { diagnosis: diagnose(fleet, ledger) } : {}),
    };
  } finally {
    clearInterval(rssTimer);
    await within(60_000, 'stopping the fleet', fleet.stopAll());
  }
}

const round = (n: number) => Math.round(n * 10) / 10;

async function submit(
  fleet: Fleet,
  job: string,
  count: number,
  on: string,
  acked: Set<string>,
): Promise<void> {
  const result = await within(
    15_000,
    `submitting ${job} on ${on}`,
    fleet.agent(on).state.submitJob(simJob(job, count)),
  );
  // submitJob resolves once the job is on the submitter's disk: that is the acknowledgement meshctl shows.
  progress(`submitted ${job} (count ${count}) on ${on}: ${result.outcome}`);
  acked.add(job);
}

async function perform(
  fleet: Fleet,
  network: FaultNetwork,
  action: Action,
  acked: Set<string>,
  ledger: CopyLedger,
): Promise<void> {
  switch (action.kind) {
    case 'partition':
      network.partition(action.groups);
      return;
    case 'heal':
      network.heal();
      return;
    case 'cut':
      network.set(action.from, action.to, { down: true });
      return;
    case 'no-dial':
      network.set(action.from, action.to, { noDial: true });
      return;
    case 'flap':
      throw new Error('flap is expanded into partition and heal steps before the run');
    case 'link': {
      const change = {
        ...(action.latencyMs !== undefined ? { latencyMs: action.latencyMs } : {}),
        ...(action.jitterMs !== undefined ? { jitterMs: action.jitterMs } : {}),
        ...(action.bytesPerSecond !== undefined ? { bytesPerSecond: action.bytesPerSecond } : {}),
      };
      if (action.a === '*') network.setDefaults(change);
      else network.set(action.a, action.b, change, true);
      return;
    }
    case 'loss':
      network.setLoss(action.fraction, action.node);
      return;
    case 'crash':
      await fleet.crash(action.node);
      return;
    case 'restart':
      await fleet.start(action.node);
      return;
    case 'isolate':
      network.setOffline(action.node, 'isolated', true);
      return;
    case 'rejoin':
      network.setOffline(action.node, 'isolated', false);
      return;
    case 'ip-change':
      await fleet.changeAddress(action.node);
      return;
    case 'submit':
      await submit(fleet, action.job, action.count, action.on, acked);
      ledger.want(action.job, action.count);
      return;
  }
}

function diagnose(fleet: Fleet, ledger: CopyLedger): Record<string, unknown> {
  const name = (peerId: string) => fleet.nameOf(peerId) ?? peerId.slice(-6);
  const jobs: Record<string, unknown> = {};
  for (const [job, count] of ledger.jobs)
    jobs[job] = {
      count,
      runningOn: fleet.runtime
        .all()
        .filter((w) => w.job === job)
        .map((w) => `${w.allocId.split('.').slice(1, 3).join('.')}@${name(w.owner)}`),
      placement: Object.fromEntries(
        fleet.running.map((a) => [
          a.config.name,
          a.workloads.placement
            .allocs(job)
            .map((r) => `${r.allocId.split('.').slice(1, 3).join('.')}@${name(r.node)}:${r.desired}`)
            .join(' '),
        ]),
      ),
    };
  // Copies every agent wants running that no device runs: what their owner did and reported about them.
  const running = new Set(fleet.runtime.all().map((w) => w.allocId));
  const missing: Record<string, unknown> = {};
  for (const agent of fleet.running)
    for (const row of agent.workloads.placement.allocs())
      if (row.desired === 'run' && !running.has(row.allocId) && !(row.allocId in missing)) {
        const owner = fleet.running.find((a) => a.peerId === row.node);
        missing[row.allocId] = {
          node: name(row.node),
          replicated: agent.state.state.allocations().find((s) => s.allocId === row.allocId),
          ownerEvents: owner?.workloads.reconciler.events(row.allocId),
          runtime: fleet.runtime.events
            .filter((e) => e.workload.allocId === row.allocId)
            .map((e) => `${e.kind}${e.kind === 'stop' ? `(${e.why})` : ''}@${name(e.workload.owner)}`),
        };
      }
  const liveness = Object.fromEntries(
    fleet.running.map((a) => [
      a.config.name,
      a
        .peers()
        .map((p) => `${p.name}:${p.liveness}`)
        .join(' '),
    ]),
  );
  return { jobs, missing, liveness };
}

function statesAgree(fleet: Fleet): boolean {
  return allEqual(fleet.running.map((a) => canonicalJson(a.state.state.summaries())));
}

function placementsAgree(fleet: Fleet): boolean {
  return allEqual(fleet.running.map(placementOf));
}

/** Acknowledged jobs some running agent does not know, or knows as stopped. */
function lostJobs(fleet: Fleet, acked: ReadonlySet<string>): string[] {
  return [...acked].filter((job) =>
    fleet.running.some((a) => {
      const view = a.state.state.job(job);
      return view === undefined || view.desired !== 'running';
    }),
  );
}

function snapshotCounters(network: FaultNetwork, names: readonly string[]) {
  const c = names.map((n) => network.counters.get(n));
  return {
    messagesIn: c.reduce((s, x) => s + (x?.messagesReceived ?? 0), 0),
    messagesDropped: c.reduce((s, x) => s + (x?.messagesDropped ?? 0), 0),
    bytesOut: c.reduce((s, x) => s + (x?.bytesSent ?? 0), 0),
  };
}

function trafficSince(
  network: FaultNetwork,
  names: readonly string[],
  before: ReturnType<typeof snapshotCounters>,
  seconds: number,
) {
  const after = snapshotCounters(network, names);
  const per = (n: number) => Math.round((n / names.length / Math.max(seconds, 0.001)) * 10) / 10;
  return {
    messagesIn: per(after.messagesIn - before.messagesIn),
    messagesDropped: per(after.messagesDropped - before.messagesDropped),
    bytesOut: per(after.bytesOut - before.bytesOut),
  };
}
