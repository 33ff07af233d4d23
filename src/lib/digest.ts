import { createHash } from 'node:crypto';

/** SHA-256 of bytes or UTF-8 text. Deterministic and local: content addresses must agree on every device. */
export function sha256(data: string | Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

export function sha256Hex(data: string | Uint8Array, hexChars = 64): string {
  return createHash('sha256').update(data).digest('hex').slice(0, hexChars);
}
