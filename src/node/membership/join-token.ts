import { isKeyId } from '../../crdt/signature.js';
import { sha256 } from '../../lib/digest.js';
import { parseJson } from '../../lib/json-text.js';
import { err, ok, type Result } from '../../lib/result.js';

/**
 * Everything a device needs to join a closed mesh, as one string an operator can flash into its config:
 * `mycel1.<payload>.<checksum>`, the payload base64url JSON `{ k: mesh key hex, o: operator keys, b: bootstrap
 * addresses }` and the checksum the first 6 bytes of its SHA-256. The version is in the prefix so a later format
 * is refused with a clear message, and the checksum catches a token damaged by copying before a device boots
 * with a wrong key and silently never joins.
 */
export interface MeshSecrets {
  /** The 32-byte pre-shared key of the private network (libp2p pnet). */
  readonly psk: Uint8Array;
  /** The mesh's initial operator keys (peer-id form): the root of the trust chain. */
  readonly operators: readonly string[];
  /** Multiaddrs of agents to join through. */
  readonly bootstrap: readonly string[];
}

const PREFIX = 'mycel1';
const PSK_BYTES = 32;
const MAX_TOKEN_CHARS = 16 * 1024;

function checksum(payload: string): string {
  return Buffer.from(sha256(payload).subarray(0, 6)).toString('base64url');
}

export function encodeJoinToken(mesh: MeshSecrets): string {
  const payload = Buffer.from(
    JSON.stringify({ k: Buffer.from(mesh.psk).toString('hex'), o: mesh.operators, b: mesh.bootstrap }),
  ).toString('base64url');
  return `${PREFIX}.${payload}.${checksum(payload)}`;
}

export function decodeJoinToken(token: string): Result<MeshSecrets> {
  const text = token.trim();
  if (text.length > MAX_TOKEN_CHARS) return err(`the join token is over ${MAX_TOKEN_CHARS} characters`);
  const parts = text.split('.');
  if (parts[0] !== PREFIX) {
    return err(
      /^mycel\d+$/.test(parts[0] ?? '')
        ? `join token version "${parts[0]}" is not supported by this agent (it reads ${PREFIX}); upgrade meshd`
        : `not a join token (expected it to start with "${PREFIX}."): print one with \`meshctl mesh join-token\``,
    );
  }
  const [, payload = '', sum = ''] = parts;
  if (parts.length !== 3 || checksum(payload) !== sum) {
    return err('the join token is damaged (checksum mismatch): copy it again from `meshctl mesh join-token`');
  }
  let value: unknown;
  try {
    value = parseJson(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return err('the join token payload is not valid JSON');
  }
  const { k, o, b } = (value ?? {}) as { k?: unknown; o?: unknown; b?: unknown };
  if (typeof k !== 'string' || !/^[0-9a-f]{64}$/.test(k))
    return err('the join token carries no valid mesh key');
  if (!Array.isArray(o) || o.length === 0 || !o.every((id) => typeof id === 'string' && isKeyId(id))) {
    return err('the join token carries no valid operator keys');
  }
  if (!Array.isArray(b) || !b.every((a) => typeof a === 'string' && a.startsWith('/'))) {
    return err('the join token bootstrap addresses are not multiaddrs');
  }
  return ok({ psk: Buffer.from(k, 'hex'), operators: o as string[], bootstrap: b as string[] });
}

/** The key file format libp2p pnet reads (`/key/swarm/psk/1.0.0/`, base16). */
export function pnetKey(psk: Uint8Array): Uint8Array {
  if (psk.length !== PSK_BYTES) throw new RangeError(`a mesh key is ${PSK_BYTES} bytes`);
  return new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${Buffer.from(psk).toString('hex')}`);
}

export function parsePnetKey(text: string): Result<Uint8Array> {
  const lines = text.trim().split(/\r?\n/);
  if (
    lines[0] !== '/key/swarm/psk/1.0.0/' ||
    lines[1] !== '/base16/' ||
    !/^[0-9a-f]{64}$/i.test(lines[2] ?? '')
  ) {
    return err(
      'not a mesh key (expected the /key/swarm/psk/1.0.0/ base16 format `meshctl mesh init` writes)',
    );
  }
  return ok(Buffer.from(lines[2]!, 'hex'));
}
