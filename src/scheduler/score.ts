/**
 * Nomad's rank scorers. Each yields a number in [-1, 1]; a node's final score is their mean over the
 * scorers that had something to say (Nomad's ScoreNormalizationIterator). Scores are quantised to integer
 * millionths so that equality, which decides reconnect ties, is exact and survives JSON.
 */
import { matches } from './feasibility.js';
import type { SchedAffinity, SchedNode } from './types.js';

export const SCORE_SCALE = 1_000_000;

const MAX_FIT = 18;

function freeFraction(capacity: number, used: number): number {
  return capacity <= 0 ? 0 : 1 - used / capacity;
}

/**
 * Bin-pack prefers full nodes: `20 - (10^freeCpu + 10^freeMem)`, 18 at a perfect fit, 0 on an empty node.
 * Spread is its mirror, `(10^freeCpu + 10^freeMem) - 2`. Both clamped to [0, 18] and divided by 18. `used`
 * includes the copy being scored.
 */
export function fitScore(
  algorithm: 'binpack' | 'spread',
  capacityCpu: number,
  capacityMemory: number,
  usedCpu: number,
  usedMemory: number,
): number {
  const total = 10 ** freeFraction(capacityCpu, usedCpu) + 10 ** freeFraction(capacityMemory, usedMemory);
  const raw = algorithm === 'binpack' ? 20 - total : total - 2;
  return Math.min(MAX_FIT, Math.max(0, raw)) / MAX_FIT;
}

/** Nomad's job anti-affinity: the (c+1)th copy of a job on one node costs (c+1)/count. */
export function antiAffinityScore(collisions: number, count: number): number {
  return -(collisions + 1) / count;
}

/** Sum of the weights of the affinities the node matches, over the sum of all absolute weights. */
export function affinityScore(affinities: readonly SchedAffinity[], node: SchedNode): number {
  let matched = 0;
  let total = 0;
  for (const a of affinities) {
    total += Math.abs(a.weight);
    if (matches(node, a)) matched += a.weight;
  }
  return total === 0 ? 0 : matched / total;
}

/**
 * Mean of the fit and whichever other scorers apply: anti-affinity only when the node already runs a copy,
 * affinity only when non-zero, the reschedule penalty (-1) only on nodes where this slot failed before.
 */
export function finalScore(
  fit: number,
  affinity: number,
  collisions: number,
  count: number,
  penalised: boolean,
) {
  let sum = fit;
  let n = 1;
  if (collisions > 0) {
    sum += antiAffinityScore(collisions, count);
    n++;
  }
  if (affinity !== 0) {
    sum += affinity;
    n++;
  }
  if (penalised) {
    sum -= 1;
    n++;
  }
  return Math.round((sum / n) * SCORE_SCALE);
}
