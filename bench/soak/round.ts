import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { jobSource } from '../../sim/netns/run-netns.js';
import { progress, round as r1, sleep } from '../../sim/run-steps.js';
import { applyFault, type FaultKind, healFault, holds, planFault } from './faults.js';
import type { SoakFleet } from './fleet.js';
import { type LayerReport, layerRound } from './layer.js';
import type { Sampler, SessionCounts } from './sampler.js';
import type { UpstreamGate } from './upstream.js';

export interface SoakSettings {
  agents: number;
  minutes: number;
  layerMb: number;
  /** How long a fault holds before it heals. */
  holdS: number;
  /** How long after a heal convergence is waited for before the round gives up on it. */
  convergeCapS: number;
  /** Keep the run dir (agent logs, data dirs) for a post-mortem. */
  keep: boolean;
}

export interface RoundReport {
  round: number;
  /** Minutes since the soak's clock started, when the round began. */
  atMin: number;
  fault: { kind: FaultKind; victims: string[]; holdS: number };
  /** Seconds from the heal until every agent answers identical jobs and placement; null: not within the cap. */
  convergeS: number | null;
  /** The running replicas differed when the fault healed (a killed agent is not among them). */
  divergedAtHeal: boolean;
  /** Seconds from the heal until every agent sees every other alive (liveness, not replicated state). */
  allAliveS: number | null;
  job: { name: string; on: string; acknowledged: boolean; error?: string };
  layer: LayerReport;
  sessions: SessionCounts;
  rssMb: Record<string, number>;
  loadAverage1m: number;
}

export interface SoakContext {
  fleet: SoakFleet;
  gate: UpstreamGate;
  sampler: Sampler;
  settings: SoakSettings;
  t0: number;
  /** Jobs an agent acknowledged: each must survive to the end. */
  acknowledged: string[];
}

/** The next agent from `from` on (wrapping) that is not in `skip`. */
function nextOutside(from: number, size: number, skip: readonly number[]): number {
  for (let k = 0; k < size; k++) if (!skip.includes((from + k) % size)) return (from + k) % size;
  throw new Error('no agent outside the fault');
}

/**
 * One round: a fault, a job submitted while it holds, the heal and the wait for convergence; meanwhile the
 * round's layer travels between two agents the fault spares, its puller a different agent each round.
 */
export async function runRound(ctx: SoakContext, round: number): Promise<RoundReport> {
  const { fleet, gate, sampler, settings } = ctx;
  const size = settings.agents;
  const began = performance.now();
  const fault = planFault(round, size);
  const puller = nextOutside(round + 1, size, fault.victims);
  const seed = nextOutside(puller + Math.floor(size / 2), size, [...fault.victims, puller]);
  progress(
    `round ${round}: ${fault.kind} on ${fault.victims.map((v) => `n${v}`).join(',')}; layer n${seed} → n${puller}`,
  );
  const layer = layerRound(fleet, gate, round, settings.layerMb, seed, puller);

  applyFault(fleet, fault);
  const job: RoundReport['job'] = { name: `soak-r${round}`, on: `n${fault.submitOn}`, acknowledged: false };
  await sleep(1_000);
  try {
    await fleet.api(fault.submitOn, 'POST', '/v1/jobs', {
      source: jobSource(job.name, 1),
      fileName: `${job.name}.yaml`,
    });
    job.acknowledged = true;
    ctx.acknowledged.push(job.name);
  } catch (err) {
    job.error = (err as Error).message;
  }
  const holdS = holds(fault) ? settings.holdS : 0;
  await sleep(Math.max(0, holdS * 1_000 - (performance.now() - began)));
  // A fault that changed nothing the agents replicate would make the convergence figure meaningless.
  const divergedAtHeal = !(await fleet.converged().catch(() => false));
  healFault(fleet, fault);
  const capMs = settings.convergeCapS * 1_000;
  const [convergeS, allAliveS] = await Promise.all([
    fleet.until(() => fleet.converged(), capMs),
    fleet.until(() => fleet.allAlive(), capMs, 500),
  ]);
  progress(`round ${round}: converged ${convergeS === null ? 'NOT' : `${r1(convergeS)} s`} after the heal`);
  const layerReport = await layer;
  progress(
    `round ${round}: layer ${layerReport.error ?? `from a peer in ${r1(layerReport.peerPullS ?? 0)} s`}`,
  );
  await sampler.sample();
  const rssMb: Record<string, number> = {};
  for (const i of fleet.running()) {
    const last = sampler.rss.findLast((s) => s.agent === i);
    if (last) rssMb[`n${i}`] = Math.round(last.kb / 1024);
  }
  return {
    round,
    atMin: r1((began - ctx.t0) / 60_000),
    fault: { kind: fault.kind, victims: fault.victims.map((v) => `n${v}`), holdS },
    convergeS: convergeS === null ? null : r1(convergeS),
    divergedAtHeal,
    allAliveS: allAliveS === null ? null : r1(allAliveS),
    job,
    layer: layerReport,
    sessions: sampler.takeRound(),
    rssMb,
    loadAverage1m: r1(loadavg()[0] ?? 0),
  };
}
