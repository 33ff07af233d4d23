import { formatJobFileErrors, parseJobFile } from '../../../crdt/job-file.js';
import type { JobView } from '../../../crdt/job-log.js';
import { type JobSpecs, readJobSpec } from '../../../crdt/job-specs.js';
import type { MeshState } from '../../../crdt/mesh-state.js';
import type { AllocStatus } from '../../../crdt/records.js';
import type { LivenessService } from '../../liveness/liveness-service.js';
import type { JobPlacement, PlacementService } from '../../placement/placement-service.js';
import type { StateService } from '../../state/state-service.js';
import type { WarmUp } from '../../workloads/workloads.js';
import { ApiError, type Route } from '../control-api.js';
import type {
  JobDetail,
  JobHistoryEntry,
  JobSummary,
  NodeInfo,
  RejectedJobDetail,
  SubmitAnswer,
} from '../types.js';
import { type HoldingAgent, jobStatusOf } from './job-status-view.js';

/** What the state routes use: the replicated state (read, and jobs submitted and stopped), placement, liveness. */
export interface StateRoutesDeps {
  readonly peerId: string;
  readonly state: {
    readonly state: Pick<
      MeshState,
      'closed' | 'jobs' | 'job' | 'jobRejections' | 'jobRejection' | 'allocations' | 'nodes' | 'trust'
    >;
  } & Pick<StateService, 'submitJob' | 'stopJob'>;
  readonly placement: Pick<PlacementService, 'explain' | 'specs'>;
  peers: LivenessService['peers'];
  /** This agent's warm-up while it lasts (new copies placed here are held back). */
  warmUp(): WarmUp | undefined;
}

/** In a closed mesh a job is changed only through `/plan` and `/events`, with an operator's signature. */
const SIGNATURE_REQUIRED =
  'this mesh only accepts operator-signed jobs: run meshctl with --operator-key FILE (or MESH_OPERATOR_KEY)';

interface SubmitBody {
  source: string;
  fileName: string;
}

/** Control API routes over the replicated state: jobs in and out, nodes as the mesh knows them. */
export function stateRoutes(deps: StateRoutesDeps): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/jobs',
      handler: async (req) => {
        if (deps.state.state.closed) throw new ApiError(403, SIGNATURE_REQUIRED);
        const body = submitBody(await req.body());
        const parsed = parseJobFile(body.source, body.fileName);
        if (!parsed.ok) throw new ApiError(400, formatJobFileErrors(parsed.errors, body.fileName));
        const answer: SubmitAnswer = await deps.state.submitJob(parsed.spec);
        return { json: answer };
      },
    },
    {
      method: 'GET',
      path: '/v1/jobs',
      handler: () => {
        const byJob = new Map<string, AllocStatus[]>();
        for (const a of deps.state.state.allocations()) {
          const list = byJob.get(a.job);
          if (list) list.push(a);
          else byJob.set(a.job, [a]);
        }
        const specs = specReader(deps);
        const jobs: JobSummary[] = deps.state.state.jobs().map((job) => {
          const spec = specs.read(job.current);
          const derived = jobStatusOf(
            job,
            spec,
            byJob.get(job.name) ?? [],
            placementOf(deps, job.name),
            holding(deps),
          );
          return {
            name: job.name,
            status: derived.status,
            desired: job.desired,
            ...(derived.reason === undefined ? {} : { reason: derived.reason }),
            ...(derived.rollout === undefined ? {} : { rollout: derived.rollout }),
            version: job.current.version,
            type: spec.ok ? spec.value.type : '-',
            // A system job has as many copies as eligible devices: its wanted copies, not a count.
            count: spec.ok ? (spec.value.type === 'system' ? derived.copies.wanted : spec.value.count) : null,
            submittedAt: job.current.submittedAt,
            allocations: derived.copies.running,
            copies: derived.copies,
          };
        });
        const known = new Set(jobs.map((j) => j.name));
        for (const rejected of deps.state.state.jobRejections()) {
          if (known.has(rejected.name)) continue;
          jobs.push({
            name: rejected.name,
            status: 'rejected',
            version: 0,
            type: '-',
            count: null,
            submittedAt: rejected.at,
            allocations: 0,
          });
        }
        return { json: jobs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
      },
    },
    {
      method: 'GET',
      path: '/v1/jobs/:name',
      handler: (req) => {
        const name = req.params.name ?? '';
        const rejected = deps.state.state.jobRejection(name);
        if (rejected && !deps.state.state.job(name)) {
          return { json: { name, status: 'rejected', rejected } satisfies RejectedJobDetail };
        }
        const job = findJob(deps, name);
        const allocations = deps.state.state.allocations().filter((a) => a.job === job.name);
        const spec = specReader(deps).read(job.current);
        const derived = jobStatusOf(job, spec, allocations, placementOf(deps, job.name), holding(deps));
        const detail: JobDetail = {
          name: job.name,
          status: derived.status,
          desired: job.desired,
          ...(derived.reason === undefined ? {} : { reason: derived.reason }),
          copies: derived.copies,
          ...(derived.rollout === undefined ? {} : { rollout: derived.rollout }),
          statusSince: job.desiredSince,
          statusBy: job.desiredBy,
          version: job.current.version,
          specHash: job.current.specHash,
          spec: job.current.spec,
          submittedBy: job.current.submittedBy,
          submittedAt: job.current.submittedAt,
          allocations,
          ...(rejected ? { rejected } : {}),
        };
        return { json: detail };
      },
    },
    {
      method: 'GET',
      path: '/v1/jobs/:name/history',
      handler: (req) => {
        const job = findJob(deps, req.params.name ?? '');
        const history: JobHistoryEntry[] = job.history.map(({ spec: _spec, ...version }) => ({
          ...version,
          current: version.specHash === job.current.specHash && version.version === job.current.version,
        }));
        return { json: history };
      },
    },
    {
      method: 'POST',
      path: '/v1/jobs/:name/stop',
      handler: async (req) => {
        const name = req.params.name ?? '';
        if (deps.state.state.closed) throw new ApiError(403, SIGNATURE_REQUIRED);
        const body = await req.body();
        const purge = isRecord(body) && body.purge === true;
        const result = await deps.state.stopJob(name, purge);
        if (result.outcome === 'not-found') throw new ApiError(404, `no job named "${name}"`);
        return { json: { ...result, purged: purge } };
      },
    },
    { method: 'GET', path: '/v1/nodes', handler: () => ({ json: nodeInfos(deps) }) },
    {
      method: 'GET',
      path: '/v1/nodes/:name',
      handler: (req) => {
        const key = req.params.name ?? '';
        const matches = nodeInfos(deps).filter((n) => n.peerId === key || n.name === key);
        const [node, ...others] = matches;
        if (!node) throw new ApiError(404, `no node named or with peer id "${key}"`);
        if (others.length > 0) {
          throw new ApiError(
            409,
            `${matches.length} nodes are named "${key}": ask by peer id (${matches.map((n) => n.peerId).join(', ')})`,
          );
        }
        return { json: node };
      },
    },
  ];
}

function submitBody(body: unknown): SubmitBody {
  if (!isRecord(body) || typeof body.source !== 'string') {
    throw new ApiError(400, 'expected a JSON body { "source": "<job file text>", "fileName": "<name>" }');
  }
  const fileName = typeof body.fileName === 'string' && body.fileName !== '' ? body.fileName : 'job';
  return { source: body.source, fileName };
}

function findJob(deps: StateRoutesDeps, name: string): JobView {
  const job = deps.state.state.job(name);
  if (!job) throw new ApiError(404, `no job named "${name}"`);
  return job;
}

/** Placement's cache of validated specs, or a plain read on an agent without workloads. */
function specReader(deps: StateRoutesDeps): Pick<JobSpecs, 'read'> {
  try {
    return deps.placement.specs;
  } catch {
    return { read: readJobSpec };
  }
}

/** This agent's placement of the job; undefined before its first placement or on an agent without workloads. */
function placementOf(deps: StateRoutesDeps, job: string): JobPlacement | undefined {
  try {
    return deps.placement.explain(job);
  } catch {
    return undefined;
  }
}

function holding(deps: StateRoutesDeps): HoldingAgent {
  return { self: deps.peerId, warmUp: deps.warmUp() };
}

function nodeInfos(deps: StateRoutesDeps): NodeInfo[] {
  const liveness = new Map(deps.peers().map((p) => [p.peerId, p.liveness]));
  const drained = deps.state.state.trust().drained;
  return deps.state.state.nodes().map((record) => {
    const self = record.peerId === deps.peerId;
    const eligible = !drained.has(record.peerId);
    return {
      ...record,
      liveness: self ? 'alive' : (liveness.get(record.peerId) ?? 'unknown'),
      self,
      eligible,
    };
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
