/**
 * Encrypted variables (`meshctl var`). The agent never sees a value in clear: meshctl asks it for the next
 * version number and the recipients (the operators, and the devices placement could put a granted job on),
 * encrypts and seals on the operator's machine, signs, and posts the sealed version, which the agent adds only
 * if a trusted operator signed it. Reads answer ciphertext and seals, which only a recipient's key opens
 * (`meshctl var get` opens it with the operator key). An open mesh refuses variables: there, anyone holding the
 * join token may submit a job that reads one, so encrypting it would protect nothing (docs/security.md).
 */
import type { MeshState } from '../../../crdt/mesh-state.js';
import type { VarEntry } from '../../../crdt/var-docs.js';
import {
  parseAddedSeal,
  parseVarRemoval,
  parseVarVersion,
  VAR_LIMITS,
  type VarView,
  varPathProblem,
} from '../../../crdt/var-entries.js';
import { openVarValues } from '../../../crdt/var-seal.js';
import type { SpecReader } from '../../placement/placement-input.js';
import type { PlacementService } from '../../placement/placement-service.js';
import { type Recipient, varRecipients, varRecipientsFinder } from '../../placement/var-recipients.js';
import type { StateService } from '../../state/state-service.js';
import { ApiError, type Route } from '../control-api.js';
import type { VarInfo, VarPlan, VarSealed } from '../types.js';

/** Read at each request: the agent's services start after its routes are listed. */
export interface VarRoutesAgent {
  readonly peerId: string;
  readonly state: Pick<StateService, 'writes'> & { readonly state: MeshState };
  readonly placement: Pick<PlacementService, 'specs'>;
}

export interface VarRoutesKeys {
  /** This device's X25519 secret: only to say whether this device can open a variable, never to show it. */
  readonly sealSecret: Uint8Array;
  readonly now: () => number;
}

export function varRoutes(agent: VarRoutesAgent, keys: VarRoutesKeys): Route[] {
  const mesh = () => agent.state.state;
  const readSpec: SpecReader = (v) => agent.placement.specs.read(v);
  const views = (state: MeshState) => ({
    jobs: state.jobs(),
    nodes: state.nodes(),
    allocations: [],
  });
  const recipients = (path: string) => {
    const state = mesh();
    return varRecipients(path, views(state), state.trust().operators, readSpec);
  };
  // A listing reads the state views and derives the recipients' keys once, not once per variable.
  const recipientsOfAny = () => {
    const state = mesh();
    return varRecipientsFinder(views(state), state.trust().operators, readSpec);
  };
  const info = (view: VarView, find: (path: string) => Recipient[] = recipients): VarInfo => {
    const eligible = find(view.path);
    const opens = openVarValues(view, agent.peerId, keys.sealSecret);
    return {
      path: view.path,
      version: view.version.version,
      id: view.id,
      at: view.version.at,
      by: view.version.by,
      sealedTo: [...view.seals.keys()].sort(),
      unsealed: eligible.filter((r) => !view.seals.has(r.id)).map((r) => r.id),
      thisDevice: opens.ok ? 'opens' : view.seals.has(agent.peerId) ? 'cannot-open' : 'not-sealed',
    };
  };
  return [
    {
      method: 'GET',
      path: '/v1/vars',
      handler: (req) => {
        const prefix = req.query.get('prefix') ?? '';
        const find = recipientsOfAny();
        return {
          json: mesh()
            .variables()
            .filter((v) => v.path.startsWith(prefix))
            .map((v) => info(v, find)),
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/vars/:path',
      handler: (req) => {
        const path = checkedPath(req.params.path);
        const view = mesh().variable(path).current;
        if (!view) throw new ApiError(404, `no variable ${path} (meshctl var list shows them)`);
        const sealed: VarSealed = {
          ...info(view),
          entry: view.version,
          seals: Object.fromEntries(view.seals),
        };
        return { json: sealed };
      },
    },
    {
      method: 'POST',
      path: '/v1/vars/:path/plan',
      handler: (req) => {
        const path = checkedPath(req.params.path);
        closedOnly(mesh());
        const view = mesh().variable(path);
        if (!view.current && mesh().variables().length >= VAR_LIMITS.vars)
          throw new ApiError(
            409,
            `the mesh holds ${VAR_LIMITS.vars} variables, the most it may: remove one first`,
          );
        const plan: VarPlan = {
          path,
          version: view.highest + 1,
          current: view.current?.version.version,
          recipients: recipients(path),
        };
        return { json: plan };
      },
    },
    {
      method: 'POST',
      path: '/v1/vars/:path/entries',
      handler: async (req) => {
        const path = checkedPath(req.params.path);
        closedOnly(mesh());
        const entry = parseEntry(await req.body());
        const writes = agent.state.writes;
        try {
          const added = await writes.run(() => writes.addVarEntry(path, entry, keys.now()));
          return { json: { path, outcome: added ? 'added' : 'duplicate' } };
        } catch (err) {
          if (err instanceof RangeError) throw new ApiError(403, err.message);
          throw err;
        }
      },
    },
  ];
}

function checkedPath(path: string | undefined): string {
  const problem = varPathProblem(path ?? '');
  if (problem) throw new ApiError(400, problem);
  return path!;
}

function closedOnly(state: MeshState): void {
  if (!state.closed)
    throw new ApiError(
      403,
      'variables need a closed mesh (meshctl mesh init): in an open mesh anyone holding the join token can ' +
        'submit a job that reads a variable, so encrypting it would protect nothing',
    );
}

/** The shape only: the pure core checks signatures, paths and limits (var-entries.ts) and refuses with why. */
function parseEntry(body: unknown): VarEntry {
  const entry = typeof body === 'object' && body !== null ? (body as { entry?: unknown }).entry : undefined;
  const kind = typeof entry === 'object' && entry !== null ? (entry as { kind?: unknown }).kind : undefined;
  const value =
    typeof entry === 'object' && entry !== null ? (entry as { value?: unknown }).value : undefined;
  const version = kind === 'version' ? parseVarVersion(value) : undefined;
  if (version) return { kind: 'version', value: version };
  const removal = kind === 'removal' ? parseVarRemoval(value) : undefined;
  if (removal) return { kind: 'removal', value: removal };
  const seal = kind === 'seal' ? parseAddedSeal(value) : undefined;
  if (seal) return { kind: 'seal', value: seal };
  throw new ApiError(
    400,
    'expected { "entry": { "kind": "version" | "removal" | "seal", "value": <signed entry> } }',
  );
}
