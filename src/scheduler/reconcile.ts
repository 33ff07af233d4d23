/**
 * Which copy of one slot survives when several run on nodes that can all be heard, as after a partition
 * heals (Nomad's disconnect.reconcile). Order of precedence:
 *   1. only live copies (pending, starting, running) can survive: a failed original never beats a running
 *      replacement;
 *   2. a copy of `target` (the version the job's rollout targets) wins, then a newer job version: after an
 *      autoRevert the older target must beat the failed newer version, or the two would swap back and forth;
 *   3. the job's mode decides; every remaining tie goes to the original: the lowest generation, then the
 *      earliest start, then the smaller alloc id, so the answer never depends on the order copies came in.
 */
import type { AllocState, ReconcileMode } from './types.js';

export interface SlotCopy {
  readonly allocId: string;
  readonly jobVersion: number;
  readonly generation: number;
  /** Rank of the copy's node for it, as placement scores it now (integer millionths). */
  readonly score: number;
  readonly startedAt: number;
  readonly state: AllocState;
}

export interface Reconciled<C extends SlotCopy> {
  readonly survivor: C | undefined;
  /** The other live copies: they must stop. Dead copies are in neither list. */
  readonly losers: readonly C[];
}

export function isLive(state: AllocState): boolean {
  return state === 'pending' || state === 'starting' || state === 'running';
}

type Order = (a: SlotCopy, b: SlotCopy) => number;

const originalFirst: Order = (a, b) =>
  a.generation - b.generation || a.startedAt - b.startedAt || (a.allocId < b.allocId ? -1 : 1);

const modeOrder: Record<ReconcileMode, Order> = {
  // A replacement has to be strictly better to displace the original.
  best_score: (a, b) => b.score - a.score || originalFirst(a, b),
  keep_original: originalFirst,
  // Two replacements of the same generation come from two sides of a partition: the better placed one wins.
  keep_replacement: (a, b) => b.generation - a.generation || b.score - a.score || originalFirst(a, b),
  longest_running: (a, b) => a.startedAt - b.startedAt || originalFirst(a, b),
};

export function reconcile<C extends SlotCopy>(
  copies: readonly C[],
  mode: ReconcileMode,
  target?: number,
): Reconciled<C> {
  const order = modeOrder[mode];
  const rank = (v: number) => (v === target ? Number.POSITIVE_INFINITY : v);
  let survivor: C | undefined;
  const losers: C[] = [];
  for (const copy of copies) {
    if (!isLive(copy.state)) continue;
    if (survivor === undefined) {
      survivor = copy;
    } else if (
      rank(copy.jobVersion) > rank(survivor.jobVersion) ||
      (copy.jobVersion === survivor.jobVersion && order(copy, survivor) < 0)
    ) {
      losers.push(survivor);
      survivor = copy;
    } else {
      losers.push(copy);
    }
  }
  losers.sort((a, b) => (a.allocId < b.allocId ? -1 : a.allocId > b.allocId ? 1 : 0));
  return { survivor, losers };
}
