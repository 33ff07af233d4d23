import { formatJobFileErrors, parseJobFile } from '../../../crdt/job-file.js';
import type { JobVersion, JobView } from '../../../crdt/job-log.js';
import { readJobSpec } from '../../../crdt/job-specs.js';
import type { JobRejection, SubmitOutcome } from '../../../crdt/mesh-state.js';
import type { AllocStatus, NodeRecord } from '../../../crdt/records.js';
import type { JobCopyCounts, JobStatusName } from '../../../scheduler/job-status.js';
import type { Agent } from '../../agent.js';
import type { LivenessStatus } from '../../liveness/liveness.js';
import type { JobPlacement } from '../../placement/placement-service.js';
import { ApiError, type Route } from '../control-api.js';
import { jobStatusOf } from './job-status-view.js';

/**
 * What the job is doing, derived from copy statuses and placement (scheduler/job-status.ts), beside what the
 * operator asked for (`desired`): a job asked to run is `running` only when its copies do.
 */
interface DerivedStatus {
  desired: JobView['desired'];
  /** Why the job is not simply running (failed copies, per-dimension placement failures, copies starting). */
  reason?: string | undefined;
  /** The newest copy of each slot of the version being run; earlier copies are history and not counted. */
  copies: JobCopyCounts;
  /** `rolling out v3: 1/3`, `rolled back to v2: ...`; absent when no rollout is under way. */
  rollout?: string | undefined;
}

/** What `meshctl job list` shows per job. */
export interface JobSummary extends Partial<DerivedStatus> {
  name: string;
  status: JobStatusName | 'rejected';
  version: number;
  type: string;
  count: number | null;
  submittedAt: number;
  /** Copies of the current version running now (`copies.running`). */
  allocations: number;
}

/** What `meshctl job status` shows. */
export interface JobDetail extends DerivedStatus {
  name: string;
  status: JobStatusName;
  /** When and by whom `desired` was last set. */
  statusSince: number;
  statusBy: string;
  version: number;
  specHash: string;
  spec: JobVersion['spec'];
  submittedBy: string;
  submittedAt: number;
  allocations: AllocStatus[];
  /** The newest change to the job did not count (closed mesh): why, and who wrote it. */
  rejected?: JobRejection;
}

/** A job whose every change was refused: it never runs. */
export interface RejectedJobDetail {
  name: string;
  status: 'rejected';
  rejected: JobRejection;
}

/** In a closed mesh a job is changed only through `/plan` and `/events`, with an operator's signature. */
const SIGNATURE_REQUIRED =
  'this mesh only accepts operator-signed jobs: run meshctl with --operator-key FILE (or MESH_OPERATOR_KEY)';

export type JobHistoryEntry = Omit<JobVersion, 'spec'> & { current: boolean };

export interface SubmitAnswer {
  name: string;
  version: number;
  outcome: SubmitOutcome;
}

/** A node as the mesh replicates it, with this agent's view of whether it is alive. */
/** `eligible`: false once an operator drained the node (trust document), until made eligible again. */
export type NodeInfo = NodeRecord & {
  liveness: LivenessStatus | 'unknown';
  self: boolean;
  eligible: boolean;
};

interface SubmitBody {
  source: string;
  fileName: string;
}

/** Control API routes over the replicated state: jobs in and out, nodes as the mesh knows them. */
export function stateRoutes(agent: Agent): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/jobs',
      handler: async (req) => {
        if (agent.state.state.closed) throw new ApiError(403, SIGNATURE_REQUIRED);
        const body = submitBody(await req.body());
        const parsed = parseJobFile(body.source, body.fileName);
        if (!parsed.ok) throw new ApiError(400, formatJobFileErrors(parsed.errors, body.fileName));
        const answer: SubmitAnswer = await agent.state.submitJob(parsed.spec);
        return { json: answer };
      },
    },
    {
      method: 'GET',
      path: '/v1/jobs',
      handler: () => {
        const allocations = agent.state.state.allocations();
        const jobs: JobSummary[] = agent.state.state.jobs().map((job) => {
          const derived = jobStatusOf(
            job,
            allocations.filter((a) => a.job === job.name),
            placementOf(agent, job.name),
          );
          const spec = readJobSpec(job.current);
          return {
            name: job.name,
            status: derived.status,
            desired: job.desired,
            ...(derived.reason === undefined ? {} : { reason: derived.reason }),
            ...(derived.rollout === undefined ? {} : { rollout: derived.rollout }),
            version: job.current.version,
            type: spec.ok ? spec.value.type : '-',
            count: spec.ok ? spec.value.count : null,
            submittedAt: job.current.submittedAt,
            allocations: derived.copies.running,
            copies: derived.copies,
          };
        });
        const known = new Set(jobs.map((j) => j.name));
        for (const rejected of agent.state.state.jobRejections()) {
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
        const rejected = agent.state.state.jobRejection(name);
        if (rejected && !agent.state.state.job(name)) {
          return { json: { name, status: 'rejected', rejected } satisfies RejectedJobDetail };
        }
        const job = findJob(agent, name);
        const allocations = agent.state.state.allocations().filter((a) => a.job === job.name);
        const derived = jobStatusOf(job, allocations, placementOf(agent, job.name));
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
        const job = findJob(agent, req.params.name ?? '');
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
        if (agent.state.state.closed) throw new ApiError(403, SIGNATURE_REQUIRED);
        const body = await req.body();
        const purge = isRecord(body) && body.purge === true;
        const result = await agent.state.stopJob(name, purge);
        if (result.outcome === 'not-found') throw new ApiError(404, `no job named "${name}"`);
        return { json: { ...result, purged: purge } };
      },
    },
    { method: 'GET', path: '/v1/nodes', handler: () => ({ json: nodeInfos(agent) }) },
    {
      method: 'GET',
      path: '/v1/nodes/:name',
      handler: (req) => {
        const key = req.params.name ?? '';
        const matches = nodeInfos(agent).filter((n) => n.peerId === key || n.name === key);
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

function findJob(agent: Agent, name: string): JobView {
  const job = agent.state.state.job(name);
  if (!job) throw new ApiError(404, `no job named "${name}"`);
  return job;
}

/** This agent's placement of the job; undefined before its first placement or on an agent without workloads. */
function placementOf(agent: Agent, job: string): JobPlacement | undefined {
  try {
    return agent.workloads.placement.explain(job);
  } catch {
    return undefined;
  }
}

function nodeInfos(agent: Agent): NodeInfo[] {
  const liveness = new Map(agent.peers().map((p) => [p.peerId, p.liveness]));
  const drained = agent.state.state.trust().drained;
  return agent.state.state.nodes().map((record) => {
    const self = record.peerId === agent.peerId;
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
