import { isJobName } from '../../../crdt/doc-id.js';
import type { PlacementService } from '../../placement/placement-service.js';
import { ApiError, type Route } from '../control-api.js';

export type PlacementReader = Pick<PlacementService, 'desired' | 'allocs' | 'explain'>;

/**
 * `GET /v1/allocs?job=NAME`: the desired placement as rows (where each copy should run, or why it stops).
 * `GET /v1/placement/:job`: where each copy of a job goes and why slots stay empty.
 */
export function placementRoutes(placement: PlacementReader): Route[] {
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
        return { json: placement.allocs(job) };
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
