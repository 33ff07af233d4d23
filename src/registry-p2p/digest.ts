import { sha256Hex } from '../lib/digest.js';

/** A content address this store accepts: sha256 only, lower-case hex. Anything else is refused at the edge. */
export type Digest = string & { readonly __digest: unique symbol };

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function parseDigest(value: unknown): Digest | undefined {
  return typeof value === 'string' && DIGEST.test(value) ? (value as Digest) : undefined;
}

export function sha256Digest(bytes: Uint8Array): Digest {
  return `sha256:${sha256Hex(bytes)}` as Digest;
}

export function hexOf(digest: Digest): string {
  return digest.slice('sha256:'.length);
}
