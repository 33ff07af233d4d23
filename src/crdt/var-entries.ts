/**
 * Variables as replicated (`var/<path>` documents, see var-docs.ts): what each entry holds, who must sign it and
 * which ones count. Values never appear here in clear: a version holds one XChaCha20-Poly1305 ciphertext of its
 * values (sealed-box.ts) and the data key sealed to each recipient.
 *
 * - `v:<id>` a version: path, number, time, the operator who wrote it, nonce, ciphertext, the seals made at put
 *   (operators and the devices eligible then), signed by that operator (closed mesh only).
 * - `s:<id>:<recipient>` a seal added later for a device that became eligible (var-resealer), signed by the
 *   device that made it. Its signature only keeps junk out: a seal that is not the version's data key fails
 *   the AEAD check of the version's ciphertext, which is operator-signed.
 * - `r:<hash>` a removal (`meshctl var rm`): every version up to `upTo` leaves the views. Operator-signed.
 */
import * as z from 'zod';
import { sha256Hex } from '../lib/digest.js';
import { parseJson } from '../lib/json-text.js';
import { canonicalJson } from './canonical-json.js';
import { type Sign, signValue, verifyValue } from './signature.js';

export const VAR_LIMITS = {
  /** Key names and values of one version together, as UTF-8, before encryption. */
  valueBytes: 65_536,
  keys: 64,
  keyName: 64,
  path: 128,
  vars: 1024,
  /** Seals in one version's entry and added seals per version: operators plus the devices of a large fleet. */
  seals: 4096,
} as const;

export const VAR_VERSION_DOMAIN = 'var-version';
const VAR_SEAL_DOMAIN = 'var-seal';
const VAR_REMOVAL_DOMAIN = 'var-removal';

/** `app/db`: lowercase segments of letters, digits, `-`, `_` and `.`, separated by `/`. */
const PATH = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(\/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$/;
const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function varPathProblem(path: string): string | undefined {
  if (path.length === 0 || path.length > VAR_LIMITS.path)
    return `a variable path has 1 to ${VAR_LIMITS.path} characters`;
  if (!PATH.test(path))
    return `invalid variable path "${path}": lowercase letters, digits, ".", "_" and "-" in segments separated by "/" (app/db)`;
  return undefined;
}

export function varKeyProblem(key: string): string | undefined {
  if (key.length === 0 || key.length > VAR_LIMITS.keyName)
    return `a key name has 1 to ${VAR_LIMITS.keyName} characters`;
  if (!KEY.test(key))
    return `invalid key name "${key}": letters, digits, "_", "." and "-", not starting with a digit, "." or "-"`;
  return undefined;
}

const b64 = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/);
const signature = z.object({ signer: z.string().max(128), sig: b64(128) });
const sealSchema = z.object({ pub: b64(64), epk: b64(64), ct: b64(128) });
const peerId = z.string().min(1).max(128);

const versionSchema = z.object({
  path: z.string().max(VAR_LIMITS.path),
  version: z.number().int().min(1),
  at: z.number().int().min(0),
  by: peerId,
  nonce: b64(64),
  data: b64(Math.ceil((VAR_LIMITS.valueBytes + 4096) / 3) * 4),
  seals: z.record(peerId, sealSchema),
  auth: signature.optional(),
});
export type VarVersion = z.output<typeof versionSchema>;
export type UnsignedVarVersion = Omit<VarVersion, 'auth'>;
export type Seal = z.output<typeof sealSchema>;

const addedSealSchema = z.object({
  version: z.string().length(64),
  to: peerId,
  seal: sealSchema,
  by: peerId,
  sig: b64(128),
});
export type AddedSeal = z.output<typeof addedSealSchema>;

const removalSchema = z.object({
  path: z.string().max(VAR_LIMITS.path),
  upTo: z.number().int().min(1),
  at: z.number().int().min(0),
  by: peerId,
  auth: signature.optional(),
});
export type VarRemoval = z.output<typeof removalSchema>;
export type UnsignedVarRemoval = Omit<VarRemoval, 'auth'>;

/** A version's id: the hash of everything but its seals and signature, which added seals refer to. */
export function versionId(v: UnsignedVarVersion): string {
  const { seals: _seals, ...body } = v as VarVersion;
  const { auth: _auth, ...unsigned } = body;
  return sha256Hex(canonicalJson(unsigned));
}

/** What both encryption layers bind to: the data key and the ciphertext belong to this path and version only. */
export function varContext(v: Pick<VarVersion, 'path' | 'version' | 'nonce'>): Uint8Array {
  return new TextEncoder().encode(`mycel/var/v1\n${v.path}\n${v.version}\n${v.nonce}`);
}

/** A signed value without its signature: what the signature covers. */
export const unsignedOf = <T extends { auth?: unknown }>(value: T): Omit<T, 'auth'> => {
  const { auth: _auth, ...rest } = value;
  return rest;
};

export function signVarVersion(v: UnsignedVarVersion, signer: string, sign: Sign): VarVersion {
  return { ...v, auth: signValue(VAR_VERSION_DOMAIN, unsignedOf(v as VarVersion), signer, sign) };
}

export function signVarRemoval(r: UnsignedVarRemoval, signer: string, sign: Sign): VarRemoval {
  return { ...r, auth: signValue(VAR_REMOVAL_DOMAIN, unsignedOf(r as VarRemoval), signer, sign) };
}

export function signAddedSeal(s: Omit<AddedSeal, 'sig'>, sign: Sign): AddedSeal {
  return { ...s, sig: signValue(VAR_SEAL_DOMAIN, s, s.by, sign).sig };
}

/** Why an operator-signed entry does not count in a mesh trusting `operators`; undefined when it does. */
function authProblem(
  domain: string,
  value: VarVersion | VarRemoval,
  operators: ReadonlySet<string>,
): string | undefined {
  if (!value.auth) return 'not signed by an operator';
  if (value.auth.signer !== value.by) return 'signed by another key than its author';
  if (!operators.has(value.auth.signer)) return `signer ${value.auth.signer} is not a trusted operator`;
  if (!verifyValue(domain, unsignedOf(value), value.auth)) return 'forged signature';
  return undefined;
}

export function versionProblem(
  path: string,
  v: VarVersion,
  operators: ReadonlySet<string>,
): string | undefined {
  if (v.path !== path) return `names variable ${v.path}`;
  if (Object.keys(v.seals).length > VAR_LIMITS.seals) return 'too many seals';
  return authProblem(VAR_VERSION_DOMAIN, v, operators);
}

export function removalProblem(
  path: string,
  r: VarRemoval,
  operators: ReadonlySet<string>,
): string | undefined {
  if (r.path !== path) return `names variable ${r.path}`;
  return authProblem(VAR_REMOVAL_DOMAIN, r, operators);
}

export function addedSealProblem(s: AddedSeal): string | undefined {
  const { sig, ...unsigned } = s;
  return verifyValue(VAR_SEAL_DOMAIN, unsigned, { signer: s.by, sig })
    ? undefined
    : 'forged sealer signature';
}

export const versionKey = (v: VarVersion): string => `v:${versionId(v)}`;
export const sealKeyOf = (s: Pick<AddedSeal, 'version' | 'to'>): string => `s:${s.version}:${s.to}`;
export const removalKey = (r: VarRemoval): string => `r:${sha256Hex(canonicalJson(r), 32)}`;

function parse<T>(schema: z.ZodType<T>, text: string): T | undefined {
  try {
    const parsed = schema.safeParse(parseJson(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The current version with every seal that counts, by recipient. */
export interface VarView {
  readonly path: string;
  readonly id: string;
  readonly version: VarVersion;
  readonly seals: ReadonlyMap<string, Seal>;
}

export interface VarEntriesView {
  /** Undefined when no version counts or the variable was removed. */
  readonly current: VarView | undefined;
  /** The highest version number any counting entry names: the next put is one more. */
  readonly highest: number;
  readonly versions: number;
  readonly rejected: { key: string; reason: string }[];
}

/** Derives a variable's view from its document's entries; pure and independent of the order entries arrived. */
export function deriveVar(
  path: string,
  entries: ReadonlyMap<string, string>,
  operators: ReadonlySet<string>,
  revoked: ReadonlySet<string>,
): VarEntriesView {
  const versions: IdentifiedVersion[] = [];
  const added: AddedSeal[] = [];
  let removedUpTo = 0;
  const rejected: { key: string; reason: string }[] = [];
  for (const [key, text] of entries) {
    if (key.startsWith('v:')) {
      const v = parse(versionSchema, text);
      const reason = v ? versionProblem(path, v, operators) : 'malformed version';
      const id = v && !reason ? versionId(v) : undefined;
      if (reason || !v || !id || key !== `v:${id}`) rejected.push({ key, reason: reason ?? 'wrong key' });
      else versions.push({ key, id, v });
    } else if (key.startsWith('s:')) {
      const s = parse(addedSealSchema, text);
      const reason = s ? addedSealProblem(s) : 'malformed seal';
      if (reason || !s || key !== sealKeyOf(s)) rejected.push({ key, reason: reason ?? 'wrong key' });
      else if (!revoked.has(s.by)) added.push(s);
    } else if (key.startsWith('r:')) {
      const r = parse(removalSchema, text);
      const reason = r ? removalProblem(path, r, operators) : 'malformed removal';
      if (reason || !r) rejected.push({ key, reason: reason ?? 'malformed removal' });
      else removedUpTo = Math.max(removedUpTo, r.upTo);
    }
  }
  const highest = Math.max(removedUpTo, ...versions.map((e) => e.v.version));
  const live = versions.filter((e) => e.v.version > removedUpTo).sort(newestFirst);
  const top = live[0];
  if (!top) return { current: undefined, highest, versions: versions.length, rejected };
  const seals = new Map<string, Seal>();
  for (const s of added.sort((a, b) => (a.by < b.by ? -1 : a.by > b.by ? 1 : 0)))
    if (s.version === top.id && !revoked.has(s.to)) seals.set(s.to, s.seal);
  for (const [to, seal] of Object.entries(top.v.seals)) if (!revoked.has(to)) seals.set(to, seal);
  return {
    current: { path, id: top.id, version: top.v, seals },
    highest,
    versions: versions.length,
    rejected,
  };
}

type IdentifiedVersion = { key: string; id: string; v: VarVersion };

/** Newest version first; `at`, then the id, break ties so every replica picks the same one. */
const newestFirst = (a: IdentifiedVersion, b: IdentifiedVersion): number =>
  b.v.version - a.v.version || b.v.at - a.v.at || (a.id < b.id ? 1 : -1);

/** Entries to keep when a document is rewritten: the newest `keep` versions, their added seals, removals. */
export function keptVarEntries(entries: ReadonlyMap<string, string>, keep: number): [string, string][] {
  const versions: IdentifiedVersion[] = [];
  for (const [key, text] of entries) {
    const v = key.startsWith('v:') ? parse(versionSchema, text) : undefined;
    if (v) versions.push({ key, id: versionId(v), v });
  }
  versions.sort(newestFirst);
  const ids = new Set(versions.slice(0, keep).map((e) => e.id));
  const kept = new Set(versions.slice(0, keep).map((e) => e.key));
  return [...entries].filter(
    ([key]) => kept.has(key) || key.startsWith('r:') || (key.startsWith('s:') && ids.has(key.split(':')[1]!)),
  );
}

export function varEntryText(value: VarVersion | VarRemoval | AddedSeal): string {
  return canonicalJson(value as never);
}

/** An entry from outside (the API): undefined unless it has the shape; signatures are checked on adding. */
export function parseVarVersion(value: unknown): VarVersion | undefined {
  const parsed = versionSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export function parseVarRemoval(value: unknown): VarRemoval | undefined {
  const parsed = removalSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export function parseAddedSeal(value: unknown): AddedSeal | undefined {
  const parsed = addedSealSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
