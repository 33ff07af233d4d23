/**
 * Which finished copies this node forgets (Nomad's client alloc GC). A copy that ended by itself (a batch job
 * done, a copy failed) keeps what its driver holds, its container or its process record and log files, so
 * `meshctl alloc logs` still reads it; this policy bounds that by count and by age. Pure: the time comes in.
 * The replicated status (state, exit code) is not touched: placement reads it to know a batch slot is done.
 */

export interface FinishedGcPolicy {
  /** Finished copies kept per job, newest first. */
  readonly maxPerJob: number;
  /** A finished copy is removed this long after it finished. */
  readonly maxAgeMs: number;
  /** Finished copies kept on this node in all, whatever their jobs: memory and disk stay bounded. */
  readonly maxTotal: number;
}

/** Defaults (README, workloads README): 10 per job, 24 hours, 256 on the node. */
export const DEFAULT_FINISHED_GC: FinishedGcPolicy = {
  maxPerJob: 10,
  maxAgeMs: 24 * 60 * 60_000,
  maxTotal: 256,
};

export interface FinishedCopy {
  readonly allocId: string;
  readonly job: string;
  /** Wall-clock ms when the copy finished. */
  readonly finishedAt: number;
}

/** The alloc ids to remove now, oldest first. Ties in `finishedAt` fall to the alloc id, for a stable order. */
export function finishedToCollect(
  copies: readonly FinishedCopy[],
  now: number,
  policy: FinishedGcPolicy,
): string[] {
  const newestFirst = [...copies].sort(
    (a, b) => b.finishedAt - a.finishedAt || (a.allocId < b.allocId ? -1 : a.allocId > b.allocId ? 1 : 0),
  );
  const perJob = new Map<string, number>();
  const collect: string[] = [];
  let kept = 0;
  for (const c of newestFirst) {
    const ofJob = perJob.get(c.job) ?? 0;
    const expired = now - c.finishedAt >= policy.maxAgeMs;
    if (expired || ofJob >= policy.maxPerJob || kept >= policy.maxTotal) {
      collect.push(c.allocId);
      continue;
    }
    perJob.set(c.job, ofJob + 1);
    kept++;
  }
  return collect.reverse();
}
