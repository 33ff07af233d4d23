/**
 * Allocation ids every agent derives alike: `<job>.<slot>.<generation>.<hash>`, the hash over job, version,
 * slot, generation and node. The node is in it because two sides of a partition may each replace the same
 * slot at the same generation, on different nodes; their copies must not share a name. The version is in it
 * so that a new job version is a new allocation. Job names cannot contain dots (docs/contracts.md).
 */
import { finish, HASH_SEED, hex8, mixInt, mixString } from './hash.js';

export interface AllocKey {
  readonly job: string;
  readonly slot: number;
  readonly generation: number;
}

export function allocId(
  job: string,
  version: number,
  slot: number,
  generation: number,
  node: string,
): string {
  const h = finish(
    mixString(mixInt(mixInt(mixInt(mixString(HASH_SEED, job), version), slot), generation), node),
  );
  return `${job}.${slot}.${generation}.${hex8(h)}`;
}

/** Digits only, no leading zero, at most 9 of them; -1 otherwise. */
function natural(s: string, from: number, to: number): number {
  if (to <= from || to - from > 9 || (s.charCodeAt(from) === 48 && to - from > 1)) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

function isHex8(s: string, from: number): boolean {
  if (s.length - from !== 8) return false;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** Undefined for ids this scheduler did not name. Hand-parsed: every agent parses every id on every change. */
export function parseAllocId(id: string): AllocKey | undefined {
  const a = id.indexOf('.');
  const b = id.indexOf('.', a + 1);
  const c = id.indexOf('.', b + 1);
  if (a < 1 || b < 0 || c < 0 || !isHex8(id, c + 1)) return undefined;
  const slot = natural(id, a + 1, b);
  const generation = natural(id, b + 1, c);
  if (slot < 0 || generation < 0) return undefined;
  return { job: id.slice(0, a), slot, generation };
}
