import { performance } from 'node:perf_hooks';
import { canonicalJson } from '../../src/crdt/canonical-json.js';
import { STATE_TOPIC } from '../../src/crdt/gossip-codec.js';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { JobSpec } from '../../src/crdt/job-spec.js';
import type { Agent } from '../../src/node/agent.js';
import { progress, runSteps, type ScenarioReport, scenarioReport, sleep } from '../run-steps.js';
import type { Action, Scenario } from '../scenario.js';
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

/** Every awaited step of a run has a deadline: a hang becomes a failure that names the step. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
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

function simJob(name: string, count: number): JobSpec {
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
  const startFailures: string[] = [];
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
    if (!ledger.exact(fleet.runtime.copiesPerJob())) startFailures.push('initial jobs never ran their count');
    const startup = (now() - began) / 1000;

    // Faults begin.
    const baseline = fleet.runtime.all();
    const counters0 = snapshotCounters(network, fleet.names);
    const run = await runSteps(
      scenario,
      {
        perform: (action) =>
          within(
            30_000 + scenario.nodes * 500,
            `step ${JSON.stringify(action)}`,
            perform(fleet, network, action, acked, ledger),
          ),
        look: () => fleet.runtime.copiesPerJob(),
        copies: () => fleet.runtime.copiesPerJob(),
        statesAgree: () => statesAgree(fleet),
        placementsAgree: () => placementsAgree(fleet),
      },
      ledger,
      { tickMs: scenario.nodes > 50 ? 500 : 100, lostAfterMs: timings.lostAfterMs, log: progress },
    );
    const lost = lostJobs(fleet, acked);
    const originals = originalsOutcome(baseline, fleet.runtime.events, run.t0, fleet.survivors());
    const report = scenarioReport(scenario, 'in-process', ledger, run, {
      startFailures,
      lostJobs: lost,
      restartedOriginals: originals.restarted,
      stoppedOriginals: originals.stopped,
      perNodePerSecond: trafficSince(network, fleet.names, counters0, run.runSeconds),
      peakRssMb: Math.round(peakRss / 1024 / 1024),
      startupS: startup,
      totalS: (now() - began) / 1000,
    });
    return report.ok ? report : { ...report, diagnosis: diagnose(fleet, ledger) };
  } finally {
    clearInterval(rssTimer);
    await within(60_000, 'stopping the fleet', fleet.stopAll());
  }
}

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
  // Documents the replicas disagree on (what "state did not converge" means), and who is linked to whom.
  const held = fleet.running.map((a) => new Map(a.state.state.summaries().map((d) => [d.docId, d])));
  const state: Record<string, unknown> = {};
  for (const docId of new Set(held.flatMap((m) => [...m.keys()]))) {
    const views = held.map((m) => {
      const d = m.get(docId);
      return d
        ? `${d.epoch}:${[...d.heads]
            .sort()
            .map((h) => h.slice(0, 8))
            .join(',')}`
        : '-';
    });
    if (views.some((v) => v !== views[0]))
      state[docId] = Object.fromEntries(fleet.running.map((a, i) => [a.config.name, views[i]]));
  }
  const links = Object.fromEntries(
    fleet.running.map((a) => [
      a.config.name,
      a.host
        .getConnections()
        .map((c) => `${name(c.remotePeer.toString())}:${c.status}`)
        .join(' '),
    ]),
  );
  // Anti-entropy is what repairs a document gossip missed: its latest failures, and changes still waiting.
  const now = Date.now();
  const sync = Object.fromEntries(
    fleet.running.map((a) => [
      a.config.name,
      {
        missingDeps: a.state.state.missingDeps().length,
        // Gossip reaches a peer only through the topic mesh (or lazily through IHAVE): who is in it, who is known.
        gossipMesh: (a.host.services.pubsub as unknown as { getMeshPeers(topic: string): string[] })
          .getMeshPeers(STATE_TOPIC)
          .map(name)
          .join(' '),
        gossipSubscribers: a.host.services.pubsub
          .getSubscribers(STATE_TOPIC)
          .map((p) => name(p.toString()))
          .join(' '),
        active: a.state.activeSyncs().map((s) => `${s.role} ${name(s.peer)} ${(s.ageMs / 1000).toFixed(1)}s`),
        failures: a.state
          .recentSyncFailures()
          .map((f) => `${f.role} ${name(f.peer)} ${((now - f.at) / 1000).toFixed(1)}s ago: ${f.error}`),
      },
    ]),
  );
  return { jobs, missing, liveness, state, links, sync };
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
