import { canonicalJson } from '../../../crdt/canonical-json.js';
import { formatJobFileErrors, parseJobFile } from '../../../crdt/job-file.js';
import type { JobSpec } from '../../../crdt/job-spec.js';
import { readJobSpec } from '../../../crdt/job-specs.js';
import type { MeshState } from '../../../crdt/mesh-state.js';
import type { PlacementService } from '../../placement/placement-service.js';
import { ApiError, type Route } from '../control-api.js';
import type { JobPlanAnswer, SpecChange } from '../types.js';

/** What `job plan` reads: what a submit would do to the job log, and a placement of the candidate spec. */
export interface JobPlanRoutesDeps {
  readonly peerId: string;
  readonly state: { readonly state: Pick<MeshState, 'planSubmit' | 'job'> };
  readonly placement: Pick<PlacementService, 'placeCandidate'>;
}

/** At most this many changed fields are listed; the rest are counted. */
const MAX_CHANGES = 100;

/**
 * `POST /v1/job-plans` `{ source, fileName }`: what `job run` would do, without doing it (Nomad's `job plan`):
 * the version the file would become, the fields it changes against the current version, and where this agent
 * would place its copies. Nothing is stored or signed, so it is a read: served to a remote meshctl too.
 */
export function jobPlanRoutes(deps: JobPlanRoutesDeps): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/job-plans',
      handler: async (req) => {
        const body = (await req.body()) as { source?: unknown; fileName?: unknown } | null;
        if (typeof body?.source !== 'string')
          throw new ApiError(
            400,
            'expected a JSON body { "source": "<job file text>", "fileName": "<name>" }',
          );
        const fileName = typeof body.fileName === 'string' && body.fileName !== '' ? body.fileName : 'job';
        const parsed = parseJobFile(body.source, fileName);
        if (!parsed.ok) throw new ApiError(400, formatJobFileErrors(parsed.errors, fileName));
        const spec = parsed.spec;
        const { outcome, version } = deps.state.state.planSubmit(spec.name, spec, deps.peerId, Date.now());
        const current = deps.state.state.job(spec.name);
        const before = current ? readJobSpec(current.current) : undefined;
        const changes = specChanges(before?.ok ? before.value : undefined, spec);
        const answer: JobPlanAnswer = {
          name: spec.name,
          outcome,
          version,
          currentVersion: current?.current.version ?? null,
          changes: changes.slice(0, MAX_CHANGES),
          moreChanges: Math.max(0, changes.length - MAX_CHANGES),
          placement: deps.placement.placeCandidate(spec, version),
        };
        return { json: answer };
      },
    },
  ];
}

/** Fields that differ, as dotted paths (lists compared whole); every field is new when there is no current spec. */
export function specChanges(before: JobSpec | undefined, after: JobSpec): SpecChange[] {
  const from = flatten(before ?? {});
  const to = flatten(after);
  const fields = [...new Set([...from.keys(), ...to.keys()])].sort();
  const changes: SpecChange[] = [];
  for (const field of fields) {
    const a = from.get(field);
    const b = to.get(field);
    if (a?.text === b?.text) continue;
    changes.push({
      field,
      ...(a === undefined ? {} : { from: a.value }),
      ...(b === undefined ? {} : { to: b.value }),
    });
  }
  return changes;
}

/** Each leaf by its dotted path, with its canonical text to compare by. */
type Leaves = Map<string, { text: string; value: unknown }>;

function flatten(value: unknown, prefix = '', out: Leaves = new Map()): Leaves {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value))
      if (inner !== undefined) flatten(inner, prefix ? `${prefix}.${key}` : key, out);
    return out;
  }
  if (prefix) out.set(prefix, { text: canonicalJson(value as Parameters<typeof canonicalJson>[0]), value });
  return out;
}
