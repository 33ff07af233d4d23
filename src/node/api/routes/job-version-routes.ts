import { jobVersion } from '../../../crdt/job-specs.js';
import type { MeshState } from '../../../crdt/mesh-state.js';
import type { StateService } from '../../state/state-service.js';
import { ApiError, type Route } from '../control-api.js';

export interface JobVersionRoutesDeps {
  readonly state: { readonly state: Pick<MeshState, 'job' | 'closed'> } & Pick<
    StateService,
    'planJob' | 'commitJob' | 'peerId'
  >;
}

/**
 * `GET /v1/jobs/:name/versions/:version`: one submitted version with its spec, for `meshctl job revert` (which
 * submits it again as the next version). Of concurrent versions that share the number, the one that won.
 * `POST /v1/jobs/:name/promote`: promotes the current version in an open mesh (a closed one takes the
 * operator-signed event through `/plan` and `/events`).
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
    {
      method: 'POST',
      path: '/v1/jobs/:name/promote',
      handler: async (req) => {
        const name = req.params.name ?? '';
        if (deps.state.state.closed)
          throw new ApiError(
            403,
            'this mesh only accepts operator-signed changes: run meshctl with --operator-key FILE (or MESH_OPERATOR_KEY)',
          );
        const plan = deps.state.planJob(name, { kind: 'promote' }, deps.state.peerId);
        if (plan.outcome === 'not-found') throw new ApiError(404, `no job named "${name}"`);
        if (plan.event) await deps.state.commitJob(name, plan.event);
        const version = deps.state.state.job(name)?.current.version;
        return { json: { name, outcome: plan.outcome, ...(version === undefined ? {} : { version }) } };
      },
    },
  ];
}
