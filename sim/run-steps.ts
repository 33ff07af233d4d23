import { performance } from 'node:perf_hooks';
import type { CopyLedger } from './fault/ledger.js';
import type { RebootOutcome } from './fault/reboots.js';
import { type Action, expandSteps, type Scenario } from './scenario.js';

/** What both runners (sim/fault in process, sim/netns) report for one scenario. */
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
  /** In process, for every device booted after a power-off: how soon its own copies ran again (offline-reboot). */
  reboots?: readonly RebootOutcome[];
  /** On failure: where each job's copies run, and what each agent's placement wants. */
  diagnosis?: Record<string, unknown>;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const round = (n: number) => Math.round(n * 10) / 10;
/** Progress on stderr, so that stdout stays one JSON report. */
export const progress = (message: string) =>
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${message}\n`);

/** How a runner acts on its fleet and looks at it; the step and convergence loop is the same for both. */
export interface Fleetside {
  perform(action: Action): Promise<void>;
  /** Once per tick: running copies per job, as the devices run them (a runner may record more as it looks). */
  look(): ReadonlyMap<string, number> | Promise<ReadonlyMap<string, number>>;
  /** Running copies per job now, recording nothing. */
  copies(): ReadonlyMap<string, number> | Promise<ReadonlyMap<string, number>>;
  /** Asked after the last step, until each first holds. */
  statesAgree(): boolean | Promise<boolean>;
  placementsAgree(): boolean | Promise<boolean>;
}

export interface StepsOutcome {
  /** performance.now() when the first step was due: faults begin. */
  t0: number;
  runSeconds: number;
  convergeS: ScenarioReport['convergeS'];
  /** Convergence that never came, and jobs over their count after it came. */
  failures: string[];
}

/**
 * Performs the scenario's steps on time and, after the last, waits for state and placement to converge and to
 * hold for two lost-periods, sampling copies into `ledger` every tick, until `settleS` after the last step.
 */
export async function runSteps(
  scenario: Scenario,
  fleet: Fleetside,
  ledger: CopyLedger,
  options: { tickMs: number; lostAfterMs: number; log: (message: string) => void },
): Promise<StepsOutcome> {
  const now = () => performance.now();
  const t0 = now();
  const steps = expandSteps(scenario.steps);
  const realMs = (simS: number) => (simS * 1000) / scenario.scale;
  const settleDeadline = t0 + realMs((steps.at(-1)?.at ?? 0) + scenario.settleS);
  let stepIndex = 0;
  let lastStepAt = t0;
  let stateAt: number | null = null;
  let placementAt: number | null = null;
  const overCount = new Set<string>();
  while (now() < settleDeadline) {
    while (stepIndex < steps.length && now() - t0 >= realMs((steps[stepIndex] as (typeof steps)[0]).at)) {
      const step = steps[stepIndex++] as (typeof steps)[0];
      options.log(`t=${step.at}s ${JSON.stringify(step.do)}`);
      await fleet.perform(step.do);
      lastStepAt = now();
      stateAt = null;
      placementAt = null;
    }
    const copies = await fleet.look();
    ledger.sample(now(), copies);
    if (stepIndex >= steps.length) {
      if (stateAt === null && (await fleet.statesAgree())) {
        stateAt = now();
        options.log(`state converged ${((stateAt - lastStepAt) / 1000).toFixed(1)} s after the last step`);
      }
      if (placementAt === null && ledger.exact(copies) && (await fleet.placementsAgree())) {
        placementAt = now();
        options.log(
          `placement converged ${((placementAt - lastStepAt) / 1000).toFixed(1)} s after the last step`,
        );
      }
      if (placementAt !== null) for (const m of ledger.overCount(copies)) overCount.add(m);
      // Converged, and held for two lost-periods: nothing left to see.
      if (
        stateAt !== null &&
        placementAt !== null &&
        now() - Math.max(stateAt, placementAt) > options.lostAfterMs * 2
      )
        break;
    }
    await sleep(options.tickMs);
  }
  const runSeconds = (now() - t0) / 1000;
  const failures: string[] = [];
  if (stateAt === null) failures.push('state did not converge');
  if (placementAt === null)
    failures.push(
      `placement did not converge: copies ${JSON.stringify(Object.fromEntries(await fleet.copies()))}`,
    );
  failures.push(...[...overCount].map((m) => `after convergence ${m}`));
  const sim = (ms: number | null) =>
    ms === null ? null : round(((ms - lastStepAt) / 1000) * scenario.scale);
  return { t0, runSeconds, convergeS: { state: sim(stateAt), placement: sim(placementAt) }, failures };
}

/** The report both runners give, from the steps' outcome and what each measured its own way. */
export function scenarioReport(
  scenario: Scenario,
  mode: ScenarioReport['mode'],
  ledger: CopyLedger,
  run: StepsOutcome,
  measured: {
    /** Failures before the steps began. */
    startFailures: readonly string[];
    lostJobs: readonly string[];
    restartedOriginals: readonly string[];
    stoppedOriginals: number;
    perNodePerSecond: Record<string, number>;
    peakRssMb: number;
    startupS: number;
    totalS: number;
  },
): ScenarioReport {
  const failures = [
    ...measured.startFailures,
    ...run.failures,
    ...measured.lostJobs.map((j) => `acknowledged job lost: ${j}`),
    ...measured.restartedOriginals.map((r) => `surviving original restarted: ${r}`),
  ];
  return {
    scenario: scenario.name,
    mode,
    nodes: scenario.nodes,
    scale: scenario.scale,
    ok: failures.length === 0,
    failures,
    convergeS: run.convergeS,
    duplicateAllocSeconds: round(ledger.duplicateSeconds * scenario.scale),
    missingAllocSeconds: round(ledger.missingSeconds * scenario.scale),
    restartsOfSurvivingOriginals: measured.restartedOriginals.length,
    survivingOriginalsStopped: measured.stoppedOriginals,
    acknowledgedJobsLost: measured.lostJobs.length,
    perNodePerSecond: measured.perNodePerSecond,
    peakRssMb: measured.peakRssMb,
    realSeconds: {
      startup: round(measured.startupS),
      run: round(run.runSeconds),
      total: round(measured.totalS),
    },
  };
}
