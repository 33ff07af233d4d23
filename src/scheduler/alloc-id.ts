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

const NATURAL = /^(0|[1-9][0-9]{0,8})$/;

/** Undefined for ids this scheduler did not name. */
export function parseAllocId(id: string): AllocKey | undefined {
  const parts = id.split('.');
  if (parts.length !== 4) return undefined;
  const [job, slot, generation, hash] = parts as [string, string, string, string];
  if (job === '' || !NATURAL.test(slot) || !NATURAL.test(generation) || !/^[0-9a-f]{8}$/.test(hash)) {
    return undefined;
  }
  return { job, slot: Number(slot), generation: Number(generation) };
}
