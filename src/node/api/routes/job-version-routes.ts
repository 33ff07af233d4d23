import { jobVersion } from '../../../crdt/job-specs.js';
import type { MeshState } from '../../../crdt/mesh-state.js';
import { ApiError, type Route } from '../control-api.js';

export interface JobVersionRoutesDeps {
  readonly state: { readonly state: Pick<MeshState, 'job'> };
}

/**
 * `GET /v1/jobs/:name/versions/:version`: one submitted version with its spec, for `meshctl job revert` (which
 * submits it again as the next version). Of concurrent versions that share the number, the one that won.
 */
export function jobVersionRoutes(deps: JobVersionRoutesDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/jobs/:name/versions/:version',
      handler: (req) => {
        const name = req.params.name ?? '';
        const text = req.params.version ?? '';
        if (!/^[1-9]\d{0,8}$/.test(text))
          throw new ApiError(400, `version must be a version number such as 3, not "${text}"`);
        const job = deps.state.state.job(name);
        if (!job) throw new ApiError(404, `no job named "${name}"`);
        const found = jobVersion(job, Number(text));
        if (!found) {
          const known = job.history.map((v) => v.version);
          throw new ApiError(
            404,
            `job "${name}" has no version ${text}; it has ${[...new Set(known)].join(', ')} (meshctl job history ${name})`,
          );
        }
        return { json: found };
      },
    },
  ];
}
