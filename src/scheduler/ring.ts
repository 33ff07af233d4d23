/**
 * Candidate order for placement: a consistent-hash ring. Nodes sit at the hash of their peer id; a copy
 * starts at the hash of (job, slot, generation) and walks clockwise. Walking visits nodes in an order fixed
 * by names alone, so a node joining or leaving shifts only its own neighbourhood, and scoring a bounded
 * number of feasible nodes (Nomad's limit iterator) costs O(log N + K), not O(N), per placement.
 */
import type { NodeInfo } from './node-table.js';

export interface ClassRing {
  /** Ring positions, ascending. */
  readonly hashes: Uint32Array;
  /** Node indices at those positions. */
  readonly members: Int32Array;
}

export function ringOrder(nodes: readonly NodeInfo[]): readonly NodeInfo[] {
  return [...nodes].sort(
    (a, b) => a.hash - b.hash || (a.node.peerId < b.node.peerId ? -1 : a.node.peerId > b.node.peerId ? 1 : 0),
  );
}

export function classRing(order: readonly NodeInfo[], admit: (info: NodeInfo) => boolean): ClassRing {
  const admitted = order.filter(admit);
  return {
    hashes: Uint32Array.from(admitted, (info) => info.hash),
    members: Int32Array.from(admitted, (info) => info.index),
  };
}

/** Index of the first ring position at or after `key`, wrapping to 0. */
export function ringStart(ring: ClassRing, key: number): number {
  let lo = 0;
  let hi = ring.hashes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ring.hashes[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo === ring.hashes.length ? 0 : lo;
}
