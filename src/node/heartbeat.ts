/**
 * The liveness heartbeat: small, ephemeral, never persisted. It doubles as the mesh's address book: every agent
 * learns the others' dialable addresses from it, which is how one bootstrap address finds the whole mesh.
 * The sender is the gossipsub message's signer, so the payload does not (and must not) claim an identity.
 */
export const HEARTBEAT_TOPIC = '/mycel/heartbeat/1';
export const MAX_HEARTBEAT_BYTES = 2048;
const MAX_ADDRESSES = 8;
const MAX_ADDRESS_LENGTH = 200;

export interface Heartbeat {
  name: string;
  /** When this run of the agent started: a new value means the peer restarted. */
  incarnation: number;
  seq: number;
  addresses: string[];
}

export function encodeHeartbeat(hb: Heartbeat): Uint8Array {
  const bytes = new TextEncoder().encode(
    JSON.stringify({
      v: 1,
      n: hb.name,
      i: hb.incarnation,
      s: hb.seq,
      a: hb.addresses.slice(0, MAX_ADDRESSES),
    }),
  );
  if (bytes.length > MAX_HEARTBEAT_BYTES)
    throw new Error(`heartbeat of ${bytes.length} bytes exceeds the limit`);
  return bytes;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

export function decodeHeartbeat(bytes: Uint8Array): Decoded<Heartbeat> {
  if (bytes.length > MAX_HEARTBEAT_BYTES) return { ok: false, error: `too large: ${bytes.length} bytes` };
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return { ok: false, error: 'not UTF-8 JSON' };
  }
  if (typeof raw !== 'object' || raw === null) return { ok: false, error: 'not an object' };
  const { v, n, i, s, a } = raw as Record<string, unknown>;
  // Never String(v): a peer's object can carry a `toString` that is not a function, and String() then throws.
  if (v !== 1) return { ok: false, error: `unknown version ${typeof v === 'number' ? v : typeof v}` };
  if (typeof n !== 'string' || n.length === 0 || n.length > 63) return { ok: false, error: 'bad name' };
  if (!Number.isSafeInteger(i) || (i as number) < 0) return { ok: false, error: 'bad incarnation' };
  if (!Number.isSafeInteger(s) || (s as number) < 0) return { ok: false, error: 'bad seq' };
  if (
    !Array.isArray(a) ||
    a.length > MAX_ADDRESSES ||
    !a.every((x) => typeof x === 'string' && x.length <= MAX_ADDRESS_LENGTH && x.startsWith('/'))
  ) {
    return { ok: false, error: 'bad addresses' };
  }
  return {
    ok: true,
    value: { name: n, incarnation: i as number, seq: s as number, addresses: a as string[] },
  };
}
