import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { progress, runSteps, type ScenarioReport, scenarioReport, sleep } from '../run-steps.js';
import type { Action, Scenario } from '../scenario.js';
import type { FleetTimings } from './fleet.js';
import { CopyLedger, originalsOutcome } from './ledger.js';
import { rebootOutcomes, type TimedStep } from './reboots.js';
import type { AgentCensus } from './shard-api.js';
import { ShardedFleet } from './sharded-fleet.js';

/** Agents per shard beyond which the fleet spreads over more worker threads (up to one per core). */
const AGENTS_PER_SHARD = 50;

/** Production defaults (src/node/setup/config.ts, src/node/state/state-service.ts) that the scale divides. */
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

function allEqual(values: readonly string[]): boolean {
  return values.every((v) => v === values[0]);
}

/** Worker threads for a fleet of `nodes`: one per AGENTS_PER_SHARD agents, at most one per core. */
export function shardsFor(nodes: number): number {
  return Math.max(1, Math.min(availableParallelism(), Math.ceil(nodes / AGENTS_PER_SHARD)));
}

/**
 * Runs one scenario against a fleet of real agents in this process (spread over worker threads, `shards` of
 * them: by default one per AGENTS_PER_SHARD agents, at most one per core) and reports. The run fails (ok: false)
 * when an acknowledged job is lost, state or placement does not converge within `settleS`, any job runs more
 * than `count` copies after convergence, or a surviving original was restarted.
 */
export async function runScenario(
  scenario: Scenario,
  shards = shardsFor(scenario.nodes),
): Promise<ScenarioReport> {
  const began = performance.now();
  const now = () => performance.now();
  const timings = timingsFor(scenario.scale);
  const fleet = await ShardedFleet.create({
    nodes: scenario.nodes,
    shards,
    timings,
    tcpTimeoutMs: timings.lostAfterMs * 3,
    seed: 0x2545f491,
  });
  const startFailures: string[] = [];
  // Worker threads share the process: its RSS is every shard's.
  let peakRss = process.memoryUsage.rss();
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 200);
  const ledger = new CopyLedger();
  const acked = new Set<string>();
  try {
    progress(
      `${scenario.name}: starting ${scenario.nodes} agents in ${fleet.shardCount} shard(s) (timings ${JSON.stringify(timings)})`,
    );
    let reported = 0;
    const started = (count: number) => {
      if (count - reported < 40 && count < scenario.nodes) return;
      reported = count;
      progress(`${count} agents started`);
    };
    await within(60_000 + scenario.nodes * 2_000, 'starting the fleet', fleet.startAll(started));
    const meshDeadline = now() + 60_000 + scenario.nodes * 500;
    const heardAll = (census: readonly AgentCensus[]) => census.every((c) => c.alive >= scenario.nodes - 1);
    let census = await fleet.census();
    while (!heardAll(census) && now() < meshDeadline) {
      await sleep(scenario.nodes > 50 ? 1_000 : 100);
      census = await fleet.census();
    }
    progress(`mesh ${heardAll(census) ? 'formed' : 'not formed'}: ${describeCensus(census)}`);

    for (const job of scenario.jobs) {
      await submit(fleet, job.name, job.count, job.on, acked);
      ledger.want(job.name, job.count);
    }
    const initialDeadline = now() + 120_000 + scenario.nodes * 1_000;
    let nextProgress = now() + 10_000;
    while (
      !(ledger.exact(await fleet.copies()) && (await placementsAgree(fleet))) &&
      now() < initialDeadline
    ) {
      if (now() >= nextProgress) {
        nextProgress += 10_000;
        progress(`initial jobs: ${await placingProgress(fleet)}`);
      }
      await sleep(scenario.nodes > 50 ? 500 : 100);
    }
    if (!ledger.exact(await fleet.copies())) startFailures.push('initial jobs never ran their count');
    const startup = (now() - began) / 1000;

    // Faults begin.
    const baseline = (await fleet.runtime()).all;
    const counters0 = await fleet.traffic();
    const timeline: TimedStep[] = [];
    const run = await runSteps(
      scenario,
      {
        perform: (action) => {
          timeline.push({ kind: action.kind, ...('node' in action ? { node: action.node } : {}), at: now() });
          return within(
            30_000 + scenario.nodes * 500,
            `step ${JSON.stringify(action)}`,
            perform(fleet, action, acked, ledger),
          );
        },
        look: () => fleet.copies(),
        copies: () => fleet.copies(),
        statesAgree: async () => allEqual(await fleet.stateDigests()),
        placementsAgree: () => placementsAgree(fleet),
      },
      ledger,
      { tickMs: scenario.nodes > 50 ? 500 : 100, lostAfterMs: timings.lostAfterMs, log: progress },
    );
    const lost = await fleet.unknownJobs([...acked]);
    const { events } = await fleet.runtime();
    const originals = originalsOutcome(baseline, events, run.t0, fleet.survivors());
    const report = scenarioReport(scenario, 'in-process', ledger, run, {
      startFailures,
      lostJobs: lost,
      restartedOriginals: originals.restarted,
      stoppedOriginals: originals.stopped,
      perNodePerSecond: trafficSince(await fleet.traffic(), counters0, fleet.names.length, run.runSeconds),
      peakRssMb: Math.round(peakRss / 1024 / 1024),
      startupS: startup,
      totalS: (now() - began) / 1000,
    });
    const reboots = rebootOutcomes(timeline, events, (peerId) => fleet.nameOf(peerId), scenario.scale);
    if (reboots.length > 0) report.reboots = reboots;
    return report.ok ? report : { ...report, diagnosis: await diagnose(fleet, ledger) };
  } finally {
    clearInterval(rssTimer);
    await fleet.stop();
  }
}

async function submit(
  fleet: ShardedFleet,
  job: string,
  count: number,
  on: string,
  acked: Set<string>,
): Promise<void> {
  // The submit resolves once the job is on the submitter's disk: that is the acknowledgement meshctl shows.
  const outcome = await within(15_000, `submitting ${job} on ${on}`, fleet.submit(on, job, count));
  progress(`submitted ${job} (count ${count}) on ${on}: ${outcome}`);
  acked.add(job);
}

async function perform(
  fleet: ShardedFleet,
  action: Action,
  acked: Set<string>,
  ledger: CopyLedger,
): Promise<void> {
  switch (action.kind) {
    case 'partition':
      return fleet.network({ kind: 'partition', groups: action.groups.map((g) => [...g]) });
    case 'heal':
      return fleet.network({ kind: 'heal' });
    case 'cut':
    case 'no-dial':
      return fleet.network({
        kind: 'set',
        from: action.from,
        to: action.to,
        change: action.kind === 'cut' ? { down: true } : { noDial: true },
        both: false,
      });
    case 'flap':
      throw new Error('flap is expanded into partition and heal steps before the run');
    case 'link': {
      const change = {
        ...(action.latencyMs !== undefined ? { latencyMs: action.latencyMs } : {}),
        ...(action.jitterMs !== undefined ? { jitterMs: action.jitterMs } : {}),
        ...(action.bytesPerSecond !== undefined ? { bytesPerSecond: action.bytesPerSecond } : {}),
      };
      if (action.a === '*') return fleet.network({ kind: 'defaults', change });
      return fleet.network({ kind: 'set', from: action.a, to: action.b, change, both: true });
    }
    case 'loss':
      return fleet.network({
        kind: 'loss',
        fraction: action.fraction,
        ...(action.node !== undefined ? { name: action.node } : {}),
      });
    case 'crash':
      return fleet.crash(action.node);
    case 'restart':
      return fleet.start(action.node);
    case 'isolate':
      return fleet.network({ kind: 'offline', name: action.node, reason: 'isolated', offline: true });
    case 'rejoin':
      return fleet.network({ kind: 'offline', name: action.node, reason: 'isolated', offline: false });
    case 'ip-change':
      return fleet.changeAddress(action.node);
    case 'submit':
      await submit(fleet, action.job, action.count, action.on, acked);
      ledger.want(action.job, action.count);
      return;
  }
}

/** What a failed run shows: where each job's copies run and are wanted, and what the replicas disagree on. */
async function diagnose(fleet: ShardedFleet, ledger: CopyLedger): Promise<Record<string, unknown>> {
  const name = (peerId: string) => fleet.nameOf(peerId) ?? peerId.slice(-6);
  const agents = (await fleet.diagnose()).sort((a, b) =>
    a.name.localeCompare(b.name, 'en', { numeric: true }),
  );
  const { all, events } = await fleet.runtime();
  const jobs: Record<string, unknown> = {};
  for (const [job, count] of ledger.jobs)
    jobs[job] = {
      count,
      runningOn: all
        .filter((w) => w.job === job)
        .map((w) => `${w.allocId.split('.').slice(1, 3).join('.')}@${name(w.owner)}`),
      placement: Object.fromEntries(agents.map((a) => [a.name, a.placement[job] ?? ''])),
    };
  // Copies some agent wants running that no device runs: what their owner did and reported about them.
  const running = new Set(all.map((w) => w.allocId));
  const missing: Record<string, unknown> = {};
  for (const agent of agents)
    for (const row of agent.wanted)
      if (!running.has(row.allocId) && !(row.allocId in missing))
        missing[row.allocId] = {
          node: row.node,
          replicated: row.replicated,
          ownerEvents: agents.find((a) => a.name === row.node)?.ownEvents[row.allocId],
          runtime: events
            .filter((e) => e.workload.allocId === row.allocId)
            .map((e) => `${e.kind}${e.kind === 'stop' ? `(${e.why})` : ''}@${name(e.workload.owner)}`),
        };
  // Documents the replicas disagree on (what "state did not converge" means).
  const state: Record<string, unknown> = {};
  for (const docId of new Set(agents.flatMap((a) => Object.keys(a.views)))) {
    const views = agents.map((a) => a.views[docId] ?? '-');
    if (views.some((v) => v !== views[0]))
      state[docId] = Object.fromEntries(agents.map((a, i) => [a.name, views[i]]));
  }
  const each = (pick: (a: (typeof agents)[number]) => unknown) =>
    Object.fromEntries(agents.map((a) => [a.name, pick(a)]));
  return {
    jobs,
    missing,
    liveness: each((a) => a.liveness),
    state,
    links: each((a) => a.links),
    sync: each((a) => a.sync),
  };
}

/** Minimum, median and maximum over the agents of what each hears, holds and is linked to. */
function describeCensus(census: readonly AgentCensus[]): string {
  const spread = (pick: (c: AgentCensus) => number) => {
    const values = census.map(pick).sort((a, b) => a - b);
    return `${values[0]}/${values[Math.floor(values.length / 2)]}/${values.at(-1)}`;
  };
  return `alive ${spread((c) => c.alive)}, suspect ${spread((c) => c.suspect)}, lost ${spread((c) => c.lost)}, records ${spread((c) => c.records)}, connections ${spread((c) => c.connections)}, gossip in ${spread((c) => c.gossipIn)} (min/median/max)`;
}

/** Where the initial placement stands: copies running, how many placements the agents hold, churn so far. */
async function placingProgress(fleet: ShardedFleet): Promise<string> {
  const copies = Object.fromEntries(await fleet.copies());
  const distinct = new Set(await fleet.placements()).size;
  const { events } = await fleet.runtime();
  const stops = events.filter((e) => e.kind === 'stop').length;
  return `copies ${JSON.stringify(copies)}, ${distinct} distinct placements, ${events.length - stops} starts, ${stops} stops; ${describeCensus(await fleet.census())}`;
}

async function placementsAgree(fleet: ShardedFleet): Promise<boolean> {
  return allEqual(await fleet.placements());
}

type Counters = Awaited<ReturnType<ShardedFleet['traffic']>>;

function trafficSince(after: Counters, before: Counters, nodes: number, seconds: number) {
  const per = (n: number) => Math.round((n / nodes / Math.max(seconds, 0.001)) * 10) / 10;
  return {
    messagesIn: per(after.messagesIn - before.messagesIn),
    messagesDropped: per(after.messagesDropped - before.messagesDropped),
    bytesOut: per(after.bytesOut - before.bytesOut),
  };
}
