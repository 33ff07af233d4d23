/**
 * A tiny 32-bit hash for placement: FNV-1a over UTF-16 code units, finished with murmur3's fmix32 so that
 * names differing only in their last character (node-001, node-002) still land far apart on the ring.
 * Every device computes the same value; it is not cryptographic and is never used for trust.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export const HASH_SEED = FNV_OFFSET;

export function mixString(h: number, s: string): number {
  let x = h;
  for (let i = 0; i < s.length; i++) {
    x ^= s.charCodeAt(i);
    x = Math.imul(x, FNV_PRIME);
  }
  // A separator byte, so that ("ab","c") and ("a","bc") differ.
  return Math.imul(x ^ 0xff, FNV_PRIME);
}

export function mixInt(h: number, n: number): number {
  let x = h;
  for (let shift = 0; shift < 32; shift += 8) {
    x ^= (n >>> shift) & 0xff;
    x = Math.imul(x, FNV_PRIME);
  }
  return x;
}

/** Unsigned 32-bit result. */
export function finish(h: number): number {
  let x = h;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Rendezvous weight of a node for a key; both are already-finished hashes. */
export function rendezvous(key: number, node: number): number {
  return finish(mixInt(mixInt(HASH_SEED, key), node));
}

export function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}
