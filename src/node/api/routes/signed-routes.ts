import { formatJobFileErrors, parseJobFile } from '../../../crdt/job-file.js';
import { parseJobEvent } from '../../../crdt/job-log.js';
import type { MeshState } from '../../../crdt/mesh-state.js';
import { parseTrustChange } from '../../../crdt/trust.js';
import type { StateService } from '../../state/state-service.js';
import { ApiError, type Route } from '../control-api.js';
import type { PlannedJobEvent, TrustInfo } from '../types.js';

/** What the signed routes use: the trust document to show, and the state service that plans and commits. */
export interface SignedRoutesDeps {
  readonly state: { readonly state: Pick<MeshState, 'closed' | 'trust'> } & Pick<
    StateService,
    'addTrustChange' | 'planJob' | 'commitJob'
  >;
}

/**
 * Signed changes in a closed mesh. meshctl asks this agent to plan a job event (the agent knows the Lamport
 * clock and the versions), checks and signs it with the operator key, and hands it back; the agent adds it only
 * if a trusted operator signed it. The private key never reaches the deps.
 */
export function signedRoutes(deps: SignedRoutesDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/trust',
      handler: () => {
        const trust = deps.state.state.trust();
        const info: TrustInfo = {
          closed: deps.state.state.closed,
          operators: [...trust.operators].sort(),
          revoked: [...trust.revoked].sort(),
          drained: [...trust.drained].sort(),
        };
        return { json: info };
      },
    },
    {
      method: 'POST',
      path: '/v1/trust',
      handler: async (req) => {
        const change = parseTrustChange(field(await req.body(), 'change'));
        if (!change) throw new ApiError(400, 'expected { "change": <signed trust change> }');
        return { json: await refusalIsForbidden(() => deps.state.addTrustChange(change)) };
      },
    },
    {
      method: 'POST',
      path: '/v1/jobs/:name/plan',
      handler: async (req) => {
        const name = req.params.name ?? '';
        const body = await req.body();
        const by = field(body, 'by');
        if (typeof by !== 'string' || by === '')
          throw new ApiError(400, 'expected "by": the operator key id');
        const kind = field(body, 'kind');
        if (kind === 'stop' || kind === 'purge' || kind === 'promote') {
          const plan = deps.state.planJob(name, { kind }, by);
          if (plan.outcome === 'not-found') throw new ApiError(404, `no job named "${name}"`);
          return { json: { name, ...plan } satisfies PlannedJobEvent };
        }
        if (kind !== 'submit') throw new ApiError(400, 'expected "kind": submit, stop, purge or promote');
        const source = field(body, 'source');
        const fileName = String(field(body, 'fileName') ?? 'job');
        if (typeof source !== 'string') throw new ApiError(400, 'expected "source": the job file text');
        const parsed = parseJobFile(source, fileName);
        if (!parsed.ok) throw new ApiError(400, formatJobFileErrors(parsed.errors, fileName));
        if (parsed.spec.name !== name) {
          throw new ApiError(400, `the job file names "${parsed.spec.name}", not "${name}"`);
        }
        return { json: { name, ...deps.state.planJob(name, { kind, spec: parsed.spec }, by) } };
      },
    },
    {
      method: 'POST',
      path: '/v1/jobs/:name/events',
      handler: async (req) => {
        const name = req.params.name ?? '';
        const event = parseJobEvent(field(await req.body(), 'event'));
        if (!event) throw new ApiError(400, 'expected { "event": <signed job event> }');
        return { json: { name, ...(await refusalIsForbidden(() => deps.state.commitJob(name, event))) } };
      },
    },
  ];
}

function field(body: unknown, key: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[key] : undefined;
}

/** The pure core refuses what would not count with a RangeError naming why: the caller gets that as a 403. */
async function refusalIsForbidden<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof RangeError) throw new ApiError(403, err.message);
    throw err;
  }
}
