import { z } from 'zod';
import { sha256Hex } from '../lib/digest.js';
import { parseJson } from '../lib/json-text.js';
import { canonicalJson } from './canonical-json.js';
import { type Signature, verifyValue } from './signature.js';

/**
 * The mesh's trust document: which operator keys are trusted and which devices are revoked. It is a set of
 * operator-signed changes, replicated like a job's events (keyed by the hash of their content, so they cannot be
 * edited), and every agent derives the same view from the same set and the mesh's initial operators (the
 * genesis, from the join token): changes are applied in (at, key) order, and one counts only if its signer is a
 * trusted operator at that point of the chain. A device that could write to the document still cannot add an
 * operator, un-revoke itself or revoke others without an operator key.
 *
 * It also holds each device's eligibility for work: `drain-node` makes a device take no new copies and give up
 * the ones it runs, `eligible-node` undoes it; the later change (by the same order) wins. Agents that predate
 * these kinds read them as malformed and ignore them.
 */
const text = z.string().min(1).max(128);
const authSchema = z.object({ signer: text, sig: z.string().max(128) });
const changeSchema = z.object({
  kind: z.enum(['add-operator', 'remove-operator', 'revoke-node', 'drain-node', 'eligible-node']),
  /** The operator key or the node's peer id the change is about. */
  subject: text,
  at: z.number().int().min(0),
  auth: authSchema,
});
export type TrustChange = z.output<typeof changeSchema>;
export type UnsignedTrustChange = Omit<TrustChange, 'auth'>;

export const TRUST_DOMAIN = 'trust-change';
const KEY_PREFIX = 't:';

export interface TrustView {
  readonly operators: ReadonlySet<string>;
  readonly revoked: ReadonlySet<string>;
  /** Devices an operator drained and has not made eligible again. */
  readonly drained: ReadonlySet<string>;
  /** Changes that did not count, with why; the shell logs them. */
  readonly rejected: readonly { key: string; reason: string }[];
}

export function trustEntry(change: TrustChange): [string, string] {
  const value = canonicalJson(change);
  return [KEY_PREFIX + sha256Hex(value, 32), value];
}

export function signedTrustChange(change: UnsignedTrustChange, auth: Signature): TrustChange {
  return { ...change, auth: { signer: auth.signer, sig: auth.sig } };
}

/** A trust change from outside (the control API): undefined unless it is exactly a change. */
export function parseTrustChange(value: unknown): TrustChange | undefined {
  const parsed = changeSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

function readChange(key: string, value: string): TrustChange | undefined {
  if (!key.startsWith(KEY_PREFIX)) return undefined;
  try {
    const parsed = changeSchema.safeParse(parseJson(value));
    if (!parsed.success) return undefined;
    return trustEntry(parsed.data)[0] === key ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Names the genesis a device accepts jobs under, for its node record: devices of one mesh share it (every join
 * token carries the mesh's initial operators), and one flashed with a forged operator list declares another, so
 * placement can leave it out instead of handing it copies it will refuse. Order and duplicates do not matter.
 */
export function trustRootOf(genesis: readonly string[]): string {
  return sha256Hex(canonicalJson([...new Set(genesis)].sort()), 32);
}

export function deriveTrust(genesis: readonly string[], entries: ReadonlyMap<string, string>): TrustView {
  const rejected: { key: string; reason: string }[] = [];
  const changes: { key: string; change: TrustChange }[] = [];
  for (const [key, value] of entries) {
    const change = readChange(key, value);
    if (change) changes.push({ key, change });
    else if (key.startsWith(KEY_PREFIX)) rejected.push({ key, reason: 'malformed trust change' });
  }
  changes.sort((a, b) => a.change.at - b.change.at || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  // `at` is chosen by the signer, so a removed (say, leaked) key could backdate an `add-operator` to before its
  // removal. A removed key's operator changes therefore never count, whatever their time: derive, void the
  // operator changes of every key removed, and derive again until the set of removed keys settles.
  let voided = new Set<string>();
  for (let round = 0; ; round++) {
    const view = applyChanges(genesis, changes, voided);
    if (round >= changes.length || sameSet(view.removed, voided)) {
      return {
        operators: view.operators,
        revoked: view.revoked,
        drained: view.drained,
        rejected: [...rejected, ...view.rejected],
      };
    }
    voided = view.removed;
  }
}

function applyChanges(
  genesis: readonly string[],
  changes: readonly { key: string; change: TrustChange }[],
  voided: ReadonlySet<string>,
): TrustView & { removed: Set<string> } {
  const operators = new Set(genesis);
  const revoked = new Set<string>();
  const drained = new Set<string>();
  const removed = new Set<string>();
  const rejected: { key: string; reason: string }[] = [];
  for (const { key, change } of changes) {
    const { auth, ...unsigned } = change;
    if (!operators.has(auth.signer)) {
      rejected.push({ key, reason: `signer ${auth.signer} is not a trusted operator` });
      continue;
    }
    if (!verifyValue(TRUST_DOMAIN, unsigned, auth)) {
      rejected.push({ key, reason: 'bad signature' });
      continue;
    }
    if (change.kind !== 'revoke-node' && voided.has(auth.signer)) {
      rejected.push({ key, reason: `signer ${auth.signer} was removed as an operator` });
      continue;
    }
    if (change.kind === 'add-operator') operators.add(change.subject);
    else if (change.kind === 'revoke-node') revoked.add(change.subject);
    else if (change.kind === 'drain-node') drained.add(change.subject);
    else if (change.kind === 'eligible-node') drained.delete(change.subject);
    else if (operators.size > 1) {
      operators.delete(change.subject);
      removed.add(change.subject);
    } else rejected.push({ key, reason: 'would remove the last operator' });
  }
  return { operators, revoked, drained, rejected, removed };
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

/** The entry `change` adds; a change that would not count under the chain `entries` hold is refused (thrown). */
export function checkedTrustEntry(
  genesis: readonly string[],
  entries: ReadonlyMap<string, string>,
  change: TrustChange,
): [string, string] {
  const [key, value] = trustEntry(change);
  const next = new Map(entries);
  next.set(key, value);
  const rejected = deriveTrust(genesis, next).rejected.find((r) => r.key === key);
  if (rejected) throw new RangeError(`trust change refused: ${rejected.reason}`);
  return [key, value];
}
