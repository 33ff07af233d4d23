/**
 * Staged rollouts without a leader. Every agent derives a job's rollout from two replicated facts only: the
 * submitted versions (the job log) and the verdicts the owners wrote into their copies' statuses. A verdict is
 * written once by the node that runs the copy and never changes, so both facts only ever grow, and the
 * derivation is monotone in them: agents that hold the same statuses reach the same rollout whatever their
 * clocks say, and an agent that has seen a failure never forgets it.
 *
 * - A version is *stable* once every one of its slots `0..count-1` has had a copy judged healthy.
 * - The newest version is *failed* once any of its copies is judged unhealthy before it is stable.
 * - With `autoRevert`, a failed newest version makes the newest earlier stable version the target. The failed
 *   version's unhealthy verdicts stay recorded, so it stays failed and is never the target again until a newer
 *   version is submitted: the revert cannot flap.
 * - Which slots move is `movesNow`: canary slots first, together, then `maxParallel` at a time in slot order;
 *   slots already in transition count against either budget, so each move is gated on the verdicts of the
 *   copies already moved. With `waves` (waves.ts) only the current wave's slots move, and a failed wave is a
 *   failed version that reverts (with or without autoRevert). A failure within the budget settles its slot for
 *   good (tolerated.ts): it never moves again, so once every slot is judged the rollout is `complete`, not stable.
 * - With `autoPromote: false` the rollout pauses once its canaries or first wave are healthy, until the
 *   version's promotion (an operator-signed event in the job log, so a fact that only grows like the others)
 *   is in the replica.
 */
import { isLive } from './reconcile.js';
import { slotReader } from './system-slots.js';
import { toleratedSlots } from './tolerated.js';
import type {
  Rollout,
  RolloutCounts,
  RolloutFailure,
  RolloutPhase,
  RolloutWave,
  SchedAllocation,
  SchedJob,
  SchedJobVersion,
} from './types.js';
import { type SlotVerdicts, type WaveState, waveState } from './waves.js';

interface Judged {
  readonly record: SchedAllocation;
  readonly slot: number;
}

function judgedCopies(
  job: string,
  allocations: readonly SchedAllocation[],
  nodes: readonly string[] | undefined,
): Judged[] {
  const slotOf = slotReader(job, nodes);
  const out: Judged[] = [];
  for (const record of allocations) {
    if (record.job !== job) continue;
    const slot = slotOf(record);
    if (slot !== undefined) out.push({ record, slot });
  }
  return out;
}

function isStable(version: SchedJobVersion, copies: readonly Judged[]): boolean {
  const healthy = new Set<number>();
  for (const c of copies)
    if (c.record.jobVersion === version.version && c.record.verdict?.healthy === true) healthy.add(c.slot);
  for (let slot = 0; slot < version.count; slot++) if (!healthy.has(slot)) return false;
  return true;
}

function firstFailure(version: number, copies: readonly Judged[]): RolloutFailure | undefined {
  let first: SchedAllocation | undefined;
  for (const { record } of copies) {
    if (record.jobVersion !== version || record.verdict?.healthy !== false) continue;
    if (
      first === undefined ||
      record.verdict.at < first.verdict!.at ||
      (record.verdict.at === first.verdict!.at && record.allocId < first.allocId)
    )
      first = record;
  }
  if (first === undefined) return undefined;
  return {
    version,
    allocId: first.allocId,
    node: first.node,
    at: first.verdict!.at,
    reason: first.verdict!.reason ?? 'judged unhealthy',
  };
}

/** The newest version below `latest` that was ever stable. */
function lastStable(job: SchedJob, copies: readonly Judged[]): SchedJobVersion | undefined {
  let best: SchedJobVersion | undefined;
  for (const v of job.history ?? []) {
    if (v.version >= job.version || (best !== undefined && v.version <= best.version)) continue;
    if (isStable(v, copies)) best = v;
  }
  return best;
}

function counts(target: SchedJobVersion, latest: number, copies: readonly Judged[]): RolloutCounts {
  const bySlot = new Map<number, SchedAllocation>();
  let unhealthy = 0;
  for (const { record, slot } of copies) {
    if (record.jobVersion === latest && record.verdict?.healthy === false) unhealthy++;
    if (record.jobVersion !== target.version || slot >= target.count || !isLive(record.state)) continue;
    // Of two live copies of a slot (until reconcile stops one) the judged healthy one counts.
    const seen = bySlot.get(slot);
    if (seen === undefined || (record.verdict?.healthy === true && seen.verdict?.healthy !== true))
      bySlot.set(slot, record);
  }
  let healthy = 0;
  let pending = 0;
  for (const record of bySlot.values()) {
    if (record.verdict === undefined) pending++;
    else if (record.verdict.healthy) healthy++;
  }
  return { total: target.count, updated: bySlot.size, healthy, pending, unhealthy };
}

/**
 * The rollout of a running job. `allocations` may hold other jobs' copies; only `job.name`'s with ids this
 * scheduler names are read. A system job's slots are `nodes` (slot i is nodes[i], see system-slots.ts).
 */
export function deriveRollout(
  job: SchedJob,
  allocations: readonly SchedAllocation[],
  nodes?: readonly string[],
): Rollout {
  const copies = judgedCopies(job.name, allocations, nodes);
  const canary = Math.min(job.update?.canary ?? 0, job.count);
  const waves = wavesOf(job, copies);
  const failure =
    waves === undefined || waves.failed !== undefined ? firstFailure(job.version, copies) : undefined;
  // Nothing to hold back while no copy of another version runs (a first version): it is not waiting.
  const promoted =
    job.update?.autoPromote !== false ||
    (job.promoted ?? []).includes(job.version) ||
    !copies.some(({ record }) => record.jobVersion !== job.version && isLive(record.state));
  let phase: RolloutPhase;
  let target: SchedJobVersion = job;
  const stable = isStable(job, copies);
  if (stable) phase = 'complete';
  else if (failure !== undefined) {
    const revert = job.update?.autoRevert === true || waves !== undefined;
    const fallback = revert ? lastStable(job, copies) : undefined;
    if (fallback === undefined) phase = 'failed';
    else {
      phase = 'reverted';
      target = fallback;
    }
  } else if (waves !== undefined && waves.current >= waves.shares.length) phase = 'complete';
  else if (waves !== undefined) phase = waves.current >= 1 && !promoted ? 'paused' : 'running';
  else {
    const canariesHealthy = isStable({ ...job, count: canary }, copies);
    phase = !canariesHealthy ? 'canary' : canary > 0 && !promoted ? 'paused' : 'running';
  }
  // Complete without being stable: every slot was judged, its failures tolerated; the wave says which stay behind.
  const wave = waves === undefined || stable ? undefined : waveOf(job, waves, phase);
  return {
    job: job.name,
    latest: job.version,
    target: target.version,
    phase,
    ...(phase === 'complete' || failure === undefined ? {} : { failure }),
    canary,
    ...(job.update === undefined ? {} : { maxParallel: job.update.maxParallel }),
    counts: counts(target, job.version, copies),
    ...(nodes === undefined ? {} : { nodes }),
    ...(wave === undefined ? {} : { wave }),
  };
}

/** The waves of the newest version, from its copies' verdicts; undefined without `update.waves`. */
function wavesOf(job: SchedJob, copies: readonly Judged[]): WaveState | undefined {
  const percents = job.update?.waves;
  if (percents === undefined || percents.length === 0) return undefined;
  const healthy = new Set<number>();
  const unhealthy = new Set<number>();
  for (const { record, slot } of copies) {
    if (record.jobVersion !== job.version || record.verdict === undefined) continue;
    (record.verdict.healthy ? healthy : unhealthy).add(slot);
  }
  const verdicts: SlotVerdicts = { healthy, unhealthy };
  return waveState(percents, job.count, job.update?.maxFailureRatio ?? 0, verdicts);
}

/** The wave status shows and movesNow obeys: a paused rollout stays on its first wave. */
function waveOf(job: SchedJob, waves: WaveState, phase: RolloutPhase): RolloutWave {
  const percents = job.update!.waves!;
  const last = percents.length - 1;
  const index = phase === 'paused' ? 0 : Math.min(waves.failed ?? waves.current, last);
  const wave = {
    index: index + 1,
    total: percents.length,
    percent: percents[index]!,
    slots: waves.shares[index]!,
  };
  return waves.failed === undefined && waves.unhealthy.length > 0
    ? { ...wave, tolerated: waves.unhealthy }
    : wave;
}

/** The job as placement should run it: the target version's fields under the job's name and status. */
export function targetJob(job: SchedJob, rollout: Rollout): SchedJob {
  if (rollout.target === job.version) return job;
  const version = job.history?.find((v) => v.version === rollout.target);
  if (version === undefined) return job;
  // The newest version's update strategy still governs: it is the one that asked for the revert.
  return { ...version, update: job.update, name: job.name, status: job.status, history: job.history };
}

/**
 * Where a slot stands in the rollout. `settled`: a live copy of the target judged healthy. `moving`: a live
 * copy of the target not yet judged healthy, or no copy at all and placement will start one (the gap between
 * an old copy stopping and its successor starting counts, so that two evaluations cannot both open the gate).
 * `outdated`: a live copy of another version. `idle`: nothing to start (e.g. its copy's node waits out
 * `lostAfter`).
 */
export type SlotProgress = 'settled' | 'moving' | 'outdated' | 'idle';

/** The outdated slots that move to the target now, in rollout order (slot order, canaries first). */
export function movesNow(rollout: Rollout, slots: readonly SlotProgress[]): number[] {
  const outdated: number[] = [];
  let moving = 0;
  // A slot whose failure a wave tolerates is settled for the rest of the rollout: it holds no move, and it never
  // moves again (its old copy serves), else a copy that fails would be relaunched on the failing version for ever.
  const tolerated = toleratedSlots(rollout);
  slots.forEach((s, slot) => {
    if (tolerated.has(slot)) return;
    if (s === 'outdated') outdated.push(slot);
    else if (s === 'moving') moving++;
  });
  switch (rollout.phase) {
    case 'failed':
    case 'paused':
      return [];
    case 'canary':
      // Slots already in transition (a failed copy's refill) count against the canaries too.
      return outdated.filter((slot) => slot < rollout.canary).slice(0, Math.max(0, rollout.canary - moving));
    default: {
      const budget = rollout.maxParallel === undefined ? outdated.length : rollout.maxParallel - moving;
      // A reverting rollout moves every slot back; a rolling one only the current wave's.
      const wave = rollout.phase === 'running' ? rollout.wave : undefined;
      const open = wave === undefined ? outdated : outdated.filter((slot) => slot < wave.slots);
      return open.slice(0, Math.max(0, budget));
    }
  }
}
