/**
 * Who a variable's data key is sealed to: the trusted operators, and exactly the devices placement could put a
 * copy of a job granted the variable on (the scheduler's static feasibility: driver, constraints, devices, host
 * paths). Nodes that declare another trust root are left out only when the state views carry a `trustRoot`; the
 * resealer and the var routes pass none, so for them every node in the replica counts. Revoked devices are not in
 * the replica's node views at all. A device without a usable seal key (an older agent, or a record naming a point
 * of small order, which would make every var put fail) cannot be a recipient. Pure.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import type { JobSpec } from '../../crdt/job-spec.js';
import { montgomeryPublic, usablePublicKey } from '../../crdt/sealed-box.js';
import type { Result } from '../../lib/result.js';
import { staticFilter } from '../../scheduler/feasibility.js';
import type { SchedJob, SchedNode } from '../../scheduler/types.js';
import { placementInput, type SpecReader, type StateViews } from './placement-input.js';

export interface Recipient {
  readonly id: string;
  /** base64 X25519 public key. */
  readonly pub: string;
  readonly kind: 'operator' | 'device';
}

/** Every job's spec reader result, so the grants come from the same validated specs placement uses. */
export function varRecipients(
  path: string,
  state: StateViews,
  operators: ReadonlySet<string>,
  readSpec: SpecReader,
): Recipient[] {
  return varRecipientsFinder(state, operators, readSpec)(path);
}

/**
 * The recipients of any variable in one state: operator keys, the placement input and the usable device keys are
 * derived once, so a pass over every variable does not redo them per variable.
 */
export function varRecipientsFinder(
  state: StateViews,
  operators: ReadonlySet<string>,
  readSpec: SpecReader,
): (path: string) => Recipient[] {
  const ops = operatorRecipients(operators);
  const devices = deviceRecipientsFinder(state, readSpec);
  return (path) => [...ops, ...devices(path)];
}

export function operatorRecipients(operators: ReadonlySet<string>): Recipient[] {
  return [...operators].sort().flatMap((id) => {
    const pub = operatorSealKey(id);
    return pub ? [{ id, pub, kind: 'operator' as const }] : [];
  });
}

/** The X25519 key an operator key opens (its Ed25519 public key, mapped), base64. */
export function operatorSealKey(id: string): string | undefined {
  try {
    const key = peerIdFromString(id).publicKey;
    return key?.type === 'Ed25519' ? Buffer.from(montgomeryPublic(key.raw)).toString('base64') : undefined;
  } catch {
    return undefined;
  }
}

export function deviceRecipients(path: string, state: StateViews, readSpec: SpecReader): Recipient[] {
  return deviceRecipientsFinder(state, readSpec)(path);
}

function deviceRecipientsFinder(state: StateViews, readSpec: SpecReader): (path: string) => Recipient[] {
  const specs = state.jobs.map((j) => ({ name: j.name, spec: readSpec(j.current) }));
  let derived: { jobs: readonly SchedJob[]; nodes: readonly { node: SchedNode; pub: string }[] } | undefined;
  // Built on the first variable that some job is granted, so a state where none is granted costs no more.
  const placement = () => {
    if (derived) return derived;
    const input = placementInput(state, [], '', 0, readSpec);
    const keys = new Map(state.nodes.map((n) => [n.peerId, n.sealKey]));
    const nodes = input.nodes.flatMap((node) => {
      const pub = keys.get(node.peerId);
      return pub && usablePublicKey(new Uint8Array(Buffer.from(pub, 'base64'))) ? [{ node, pub }] : [];
    });
    derived = { jobs: input.jobs, nodes };
    return derived;
  };
  return (path) => {
    const granted = new Set(specs.filter((j) => grants(j.spec, path)).map((j) => j.name));
    if (granted.size === 0) return [];
    const { jobs: all, nodes } = placement();
    const jobs = all.filter((job) => granted.has(job.name));
    return nodes
      .filter(({ node }) => jobs.some((job) => staticFilter(job, node) === undefined))
      .map(({ node, pub }) => ({ id: node.peerId, pub, kind: 'device' as const }));
  };
}

function grants(spec: Result<JobSpec>, path: string): boolean {
  return spec.ok && (spec.value.vars ?? []).includes(path);
}
