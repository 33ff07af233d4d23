import { isJobName } from '../../../crdt/doc-id.js';
import type { MeshState } from '../../../crdt/mesh-state.js';
import type { AllocStatus } from '../../../crdt/records.js';
import { compareText } from '../../../lib/compare-text.js';
import { parseAllocId } from '../../../scheduler/alloc-id.js';
import type { AllocRow, PlacementService } from '../../placement/placement-service.js';
import { ApiError, type Route } from '../control-api.js';
import type { AllocListRow } from '../types.js';

export type PlacementReader = Pick<PlacementService, 'desired' | 'allocs' | 'explain'>;

/** The replicated statuses the alloc list adds to the placement's rows. */
export interface ReportedStatuses {
  readonly state: { readonly state: Pick<MeshState, 'allocations' | 'nodes'> };
}

/**
 * The placement's rows, each with the state (and exit code) its node last reported, then the copies that
 * ended (complete, failed) which the placement no longer places: a batch copy that is done stays listed,
 * with its exit code, as Nomad's `job status` lists complete allocations.
 */
export function allocList(
  rows: readonly AllocRow[],
  reported: ReportedStatuses,
  job?: string,
): AllocListRow[] {
  const state = reported.state.state;
  const statuses = new Map(state.allocations().map((s) => [s.allocId, s]));
  const outcome = (s: AllocStatus | undefined) => ({
    state: s?.state ?? null,
    ...(s?.exitCode === undefined ? {} : { exitCode: s.exitCode }),
  });
  const listed = new Set(rows.map((r) => r.allocId));
  // Replicated statuses are history that stays; a slot's ended copies replaced since (a failed copy placement
  // replaced) are left out, so the list shows each slot's newest copy, not every attempt.
  const newest = new Map<string, number>();
  for (const s of statuses.values()) {
    const key = parseAllocId(s.allocId);
    if (!key) continue;
    const slot = `${key.job}.${key.slot}`;
    newest.set(slot, Math.max(newest.get(slot) ?? -1, key.generation));
  }
  const superseded = (allocId: string) => {
    const key = parseAllocId(allocId);
    return key !== undefined && (newest.get(`${key.job}.${key.slot}`) ?? -1) > key.generation;
  };
  const names = new Map(state.nodes().map((n) => [n.peerId, n.name]));
  const finished: AllocListRow[] = [...statuses.values()]
    .filter((s) => (s.state === 'complete' || s.state === 'failed') && !listed.has(s.allocId))
    .filter((s) => !superseded(s.allocId))
    .filter((s) => job === undefined || s.job === job)
    .map((s) => ({
      allocId: s.allocId,
      job: s.job,
      jobVersion: s.jobVersion,
      node: s.node,
      nodeName: names.get(s.node) ?? s.node,
      desired: 'finished' as const,
      ...outcome(s),
    }));
  return [...rows.map((r) => ({ ...r, ...outcome(statuses.get(r.allocId)) })), ...finished].sort(
    (a, b) => compareText(a.job, b.job) || compareText(a.allocId, b.allocId),
  );
}

/**
 * `GET /v1/allocs?job=NAME`: the desired placement as rows (where each copy should run, or why it stops),
 * with what each copy's node reported (allocList).
 * `GET /v1/placement/:job`: where each copy of a job goes and why slots stay empty.
 */
export function placementRoutes(placement: PlacementReader, reported: ReportedStatuses): Route[] {
  const computed = () => {
    if (placement.desired() === undefined)
      throw new ApiError(503, 'placement has not been computed yet; retry in a moment');
  };
  const known = (job: string) => {
    if (!isJobName(job))
      throw new ApiError(400, `"${job}" is not a job name (lowercase letters, digits, "-")`);
    const explained = placement.explain(job);
    if (explained === undefined)
      throw new ApiError(404, `no job "${job}" in this agent's placement (meshctl job list shows the jobs)`);
    return explained;
  };
  return [
    {
      method: 'GET',
      path: '/v1/allocs',
      handler: (req) => {
        computed();
        const job = req.query.get('job') ?? undefined;
        if (job !== undefined) known(job);
        return { json: allocList(placement.allocs(job), reported, job) };
      },
    },
    {
      method: 'GET',
      path: '/v1/placement/:job',
      handler: (req) => {
        computed();
        return { json: known(req.params.job ?? '') };
      },
    },
  ];
}
