import type { JobView } from '../../../crdt/job-log.js';
import { readJobSpec } from '../../../crdt/job-specs.js';
import type { AllocStatus } from '../../../crdt/records.js';
import { deriveJobStatus, type JobStatus } from '../../../scheduler/job-status.js';
import type { JobPlacement } from '../../placement/placement-service.js';

/**
 * The inputs of `deriveJobStatus` as an agent holds them: the replicated job and copy statuses, and this
 * agent's own placement (undefined before its first run, or for a job it cannot read).
 */
export function jobStatusOf(
  job: JobView,
  allocations: readonly AllocStatus[],
  placement: JobPlacement | undefined,
): JobStatus {
  const spec = readJobSpec(job.current);
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
    placementUnknown: placement === undefined || placement.status === 'unreadable',
  });
}
