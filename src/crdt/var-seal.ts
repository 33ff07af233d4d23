/**
 * A variable version's values sealed and opened (sealed-box.ts composed with var-entries.ts): what meshctl does
 * at `var put` and `var get`, a device at a copy's start and a re-sealer for a newly eligible device. Pure: the
 * random bytes (data key, nonce, one ephemeral key per recipient) are arguments.
 */
import { parseJson } from '../lib/json-text.js';
import { err, ok, type Result } from '../lib/result.js';
import { canonicalJson } from './canonical-json.js';
import { decryptValue, encryptValue, KEY_BYTES, NONCE_BYTES, openKey, sealKey } from './sealed-box.js';
import {
  type Seal,
  type UnsignedVarVersion,
  VAR_LIMITS,
  type VarView,
  varContext,
  varKeyProblem,
} from './var-entries.js';

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'));

/** Why `values` cannot be a variable's content; undefined when it can. */
export function varValuesProblem(values: Readonly<Record<string, string>>): string | undefined {
  const keys = Object.keys(values);
  if (keys.length === 0) return 'a variable holds at least one KEY=VALUE';
  if (keys.length > VAR_LIMITS.keys)
    return `a variable holds at most ${VAR_LIMITS.keys} keys (${keys.length} given)`;
  for (const key of keys) {
    const problem = varKeyProblem(key);
    if (problem) return problem;
    if (values[key]!.includes('\0'))
      return `the value of ${key} contains a NUL character, which no environment can hold`;
  }
  const size = new TextEncoder().encode(canonicalJson(values)).length;
  if (size > VAR_LIMITS.valueBytes)
    return `keys and values take ${size} bytes, more than the ${VAR_LIMITS.valueBytes} a variable may hold`;
  return undefined;
}

export interface SealRandom {
  readonly dataKey: Uint8Array;
  readonly nonce: Uint8Array;
  /** One 32-byte ephemeral secret per recipient. */
  readonly ephemeral: (index: number) => Uint8Array;
}

/** A new version of `path` holding `values`, sealed to `recipients` (id → base64 X25519 key). Unsigned. */
export function sealVarVersion(
  init: { path: string; version: number; at: number; by: string },
  values: Readonly<Record<string, string>>,
  recipients: readonly { id: string; pub: string }[],
  random: SealRandom,
): UnsignedVarVersion {
  if (random.dataKey.length !== KEY_BYTES || random.nonce.length !== NONCE_BYTES)
    throw new RangeError('a data key is 32 random bytes and a nonce 24');
  const nonce = b64(random.nonce);
  const context = varContext({ ...init, nonce });
  const plain = new TextEncoder().encode(canonicalJson(values));
  const seals: Record<string, Seal> = {};
  recipients.forEach((r, i) => {
    seals[r.id] = sealTo(random.dataKey, r.pub, random.ephemeral(i), context);
  });
  return { ...init, nonce, data: b64(encryptValue(random.dataKey, random.nonce, plain, context)), seals };
}

export function sealTo(dataKey: Uint8Array, pub: string, ephemeral: Uint8Array, context: Uint8Array): Seal {
  const sealed = sealKey(dataKey, bytes(pub), ephemeral, context);
  return { pub, epk: b64(sealed.epk), ct: b64(sealed.ct) };
}

/** The data key of the current version as `recipient` (holding `secret`) opens it. */
export function openDataKey(view: VarView, recipient: string, secret: Uint8Array): Result<Uint8Array> {
  const seal = view.seals.get(recipient);
  if (!seal)
    return err(`variable ${view.path} (version ${view.version.version}) is not sealed to ${recipient}`);
  const key = openKey({ epk: bytes(seal.epk), ct: bytes(seal.ct) }, secret, varContext(view.version));
  return key ? ok(key) : err(`variable ${view.path}: the seal for ${recipient} does not open with this key`);
}

/** The values of the current version, as `recipient` opens them. */
export function openVarValues(
  view: VarView,
  recipient: string,
  secret: Uint8Array,
): Result<Record<string, string>> {
  const key = openDataKey(view, recipient, secret);
  if (!key.ok) return key;
  const v = view.version;
  const plain = decryptValue(key.value, bytes(v.nonce), bytes(v.data), varContext(v));
  if (!plain)
    return err(`variable ${view.path}: the ciphertext does not open (altered, or sealed a wrong key)`);
  try {
    const values = parseJson(new TextDecoder().decode(plain));
    if (values === null || typeof values !== 'object' || Array.isArray(values)) throw new Error('not a map');
    for (const value of Object.values(values)) if (typeof value !== 'string') throw new Error('not text');
    return ok(values as Record<string, string>);
  } catch (e) {
    return err(`variable ${view.path}: malformed content (${(e as Error).message})`);
  }
}
