/**
 * Percentage waves: a new version moves over the fleet in waves (`update.waves`, e.g. 10 → 25 → 100 % of the
 * slots; a system job's slots are its devices), each gated on the owners' verdicts of the waves before it.
 * Derived, like the rest of a rollout, from the submitted versions and the verdicts alone, never from clocks:
 *
 * - Wave j lets slots `0..shares[j]-1` onto the new version, `shares[j] = ceil(percent_j × count / 100)`.
 * - A slot is *settled* once a copy of the version was judged in it: healthy, or unhealthy within the failure
 *   budget (its slot stays on its old version for the rest of the rollout, see tolerated.ts). The current wave
 *   is the first whose slots are not all settled; the one after it opens only then. `minHealthyTime` is in every healthy verdict,
 *   so each wave is gated on health held for it.
 * - Wave j *fails* once more than `maxFailureRatio` of its own slots `shares[j-1]..shares[j]-1` have had a copy
 *   judged unhealthy. A failed wave reverts (rollout.ts).
 *
 * Verdicts only ever grow, so the current wave only ever advances and a failure is never forgotten: agents that
 * hold the same statuses derive the same wave, and an agent that holds fewer (a partitioned minority) derives
 * the same wave or an earlier one, unless it has not yet heard of a failure the others know.
 */

/** Slots on the new version once each wave has moved, one entry per wave, non-decreasing, the last `count`. */
export function waveShares(percents: readonly number[], count: number): number[] {
  return percents.map((p) => Math.min(count, Math.ceil((p * count) / 100)));
}

/** The verdicts of one version, per slot: whether any copy in the slot was judged healthy, or unhealthy. */
export interface SlotVerdicts {
  readonly healthy: ReadonlySet<number>;
  readonly unhealthy: ReadonlySet<number>;
}

export interface WaveState {
  /** 0-based: the first wave whose slots are not all settled (`shares.length` once all are). */
  readonly current: number;
  /** 0-based: the first wave whose failures passed the budget, if any. */
  readonly failed?: number | undefined;
  readonly shares: readonly number[];
  /** Slots `0..count-1` judged unhealthy, ascending. */
  readonly unhealthy: readonly number[];
}

export function waveState(
  percents: readonly number[],
  count: number,
  maxFailureRatio: number,
  verdicts: SlotVerdicts,
): WaveState {
  const shares = waveShares(percents, count);
  let failed: number | undefined;
  let from = 0;
  shares.forEach((to, j) => {
    let bad = 0;
    for (let slot = from; slot < to; slot++) if (verdicts.unhealthy.has(slot)) bad++;
    if (failed === undefined && bad > 0 && bad > maxFailureRatio * (to - from)) failed = j;
    from = to;
  });
  let current = 0;
  let settledUpTo = 0;
  while (settledUpTo < count && (verdicts.healthy.has(settledUpTo) || verdicts.unhealthy.has(settledUpTo)))
    settledUpTo++;
  while (current < shares.length && shares[current]! <= settledUpTo) current++;
  const unhealthy = [...verdicts.unhealthy].filter((slot) => slot < count).sort((a, b) => a - b);
  return { current, ...(failed === undefined ? {} : { failed }), shares, unhealthy };
}
