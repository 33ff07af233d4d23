/** One job's copies grouped by slot, as placement works through them. */
import type { Heard } from './node-table.js';
import { reconcile, type SlotCopy } from './reconcile.js';
import type { ReconcileMode, SchedAllocation, SchedJob } from './types.js';

export interface Copy extends SlotCopy {
  /** Set once every copy is counted (see Placer#scoreCopies). */
  score: number;
  readonly record: SchedAllocation;
  readonly slot: number;
  /** -1 when the node has no record. */
  readonly nodeIndex: number;
  readonly heard: Heard;
}

export interface SlotWork {
  readonly slot: number;
  readonly copies: readonly Copy[];
  survivor: Copy | undefined;
  /**
   * The survivor only stands in for an unheard copy that would beat it were its node heard. It yields
   * capacity to every other survivor, so that a node dropping out cannot revive a duplicate that then
   * evicts copies the node never ran.
   */
  readonly standsIn: boolean;
  readonly unknown: readonly Copy[];
  /**
   * No heard copy survived, yet a new one is unnecessary: a copy on an unheard node still waits out
   * `lostAfter` (or must not be replaced), or a batch run finished. A survivor displaced later by an update
   * or an eviction is always replaced.
   */
  readonly covered: boolean;
  /** A slot moving to a new version tries its old node first (see handedOver). */
  preferred: number | undefined;
  /**
   * The rollout's surge: a live copy of another version kept running beside the slot's copy of the target
   * until that one is judged healthy (see outgoingCopy). It holds its resources meanwhile.
   */
  outgoing: Copy | undefined;
}

export interface JobWork {
  readonly job: SchedJob;
  readonly slots: readonly SlotWork[];
}

/**
 * The node of an older-version copy that finished because its slot was being updated: its successor goes
 * there first, so that the evaluations between the old copy stopping and the new one starting agree on
 * where (and so on the id of) the new copy.
 */
export function handedOver(job: SchedJob, copies: readonly Copy[]): number | undefined {
  let latest: Copy | undefined;
  for (const c of copies) if (latest === undefined || c.generation > latest.generation) latest = c;
  if (latest === undefined || latest.state !== 'complete' || latest.jobVersion === job.version)
    return undefined;
  return latest.nodeIndex >= 0 ? latest.nodeIndex : undefined;
}

/**
 * The slot needs no new copy because its work is done: a batch slot whose copy of this version completed, a
 * periodic run that completed (whatever the version: a run is not run again because the job changed since).
 */
export function finished(job: SchedJob, copies: readonly Copy[]): boolean {
  if (job.type === 'periodic') return copies.some((c) => c.state === 'complete');
  return job.type === 'batch' && copies.some((c) => c.state === 'complete' && c.jobVersion === job.version);
}

/** Above every real score, which lies in [-1, 1] in millionths. */
const UNSCORED = Number.MAX_SAFE_INTEGER;

/**
 * An unheard copy as a rival of the slot's heard survivor. A copy whose node has no record cannot be scored;
 * it is taken to score best, so the heard copy yields capacity rather than evicting anything for it.
 */
export function unheardRival(c: Copy): SlotCopy {
  return c.nodeIndex >= 0 ? c : { ...c, score: UNSCORED };
}

/**
 * The copy a slot's new version is replacing, while the slot is in transition: when the survivor is a copy of
 * the target version, the best live copy of another version among the losers (by the job's reconcile mode).
 * `keep` says whether it keeps running: yes until the survivor is judged healthy (an unhealthy one never is,
 * so a failed update leaves the old copy serving), then it stops as `updated`.
 */
export function outgoingCopy(
  target: number,
  survivor: Copy | undefined,
  losers: readonly Copy[],
  mode: ReconcileMode,
): { copy: Copy; keep: boolean } | undefined {
  if (survivor === undefined || survivor.jobVersion !== target) return undefined;
  const copy = reconcile(
    losers.filter((c) => c.jobVersion !== target),
    mode,
  ).survivor;
  return copy === undefined ? undefined : { copy, keep: survivor.record.verdict?.healthy !== true };
}
