import type { JobView } from '../../../crdt/job-log.js';
import type { JobSpecRead } from '../../../crdt/job-specs.js';
import type { AllocStatus } from '../../../crdt/records.js';
import { deriveJobStatus, type JobStatus } from '../../../scheduler/job-status.js';
import type { JobPlacement } from '../../placement/placement-service.js';
import type { WarmUp } from '../../workloads/workloads.js';

/** This agent, for the slots it holds back on purpose: its peer id and its warm-up, while it lasts. */
export interface HoldingAgent {
  readonly self: string;
  readonly warmUp: WarmUp | undefined;
}

/**
 * The inputs of `deriveJobStatus` as an agent holds them: the replicated job and copy statuses, and this
 * agent's own placement (undefined before its first run, or for a job it cannot read).
 */
export function jobStatusOf(
  job: JobView,
  spec: JobSpecRead,
  allocations: readonly AllocStatus[],
  placement: JobPlacement | undefined,
  agent?: HoldingAgent,
): JobStatus {
  const type = spec.ok ? spec.value.type : 'service';
  const placed = placement !== undefined && 'count' in placement ? placement.count : undefined;
  const count = placed ?? (spec.ok ? spec.value.count : 1);
  return deriveJobStatus(job.name, {
    desired: job.desired,
    type,
    version: job.current.version,
    count,
    allocations,
    unplaced: placement?.unplaced ?? [],
    rollout: placement?.rollout,
    run: placement?.run,
    placementUnknown: placement === undefined || placement.status === 'unreadable',
    held: heldSlots(allocations, placement, agent),
  });
}

/**
 * Slots held back on purpose: an unheard copy a cut-off view does not replace, and, during this agent's
 * warm-up, a copy placed here that it has not started (it has no status of it: the warm-up starts restarts only).
 */
function heldSlots(
  allocations: readonly AllocStatus[],
  placement: JobPlacement | undefined,
  agent: HoldingAgent | undefined,
): { slot: number; reason: string }[] {
  const reported = new Set(allocations.map((a) => a.allocId));
  const warmUp = agent?.warmUp;
  const held: { slot: number; reason: string }[] = [];
  for (const a of placement?.allocs ?? []) {
    if (a.notReplaced !== undefined) held.push({ slot: a.slot, reason: `not replaced: ${a.notReplaced}` });
    else if (warmUp && a.status === 'run' && a.node === agent?.self && !reported.has(a.allocId)) {
      const left = Math.ceil(warmUp.remainingMs / 1000);
      held.push({ slot: a.slot, reason: `held back: this agent is warming up (${left}s left)` });
    }
  }
  return held;
}
