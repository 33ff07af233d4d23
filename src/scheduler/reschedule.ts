/**
 * When a slot whose copies failed gets a new copy (Nomad's `reschedule` block). A copy fails once its own
 * restarts on its device ran out; placing the slot again at once, anywhere, turns a job that cannot work (a bad
 * command, a missing file) into a fleet-wide crash loop that starts a copy a second. Instead each failure of the
 * slot's current version waits longer before the next copy, and a job that may give up (batch, by default) stops
 * after `attempts` new copies within `interval`.
 *
 * Pure: `now` comes in. Agents whose clocks differ may place the next copy a little apart in time, but on the
 * same node under the same id, so they still agree on where it runs.
 */
import type { SchedAllocation, SchedJob, SchedReschedule } from './types.js';

const HOUR = 3_600_000;

/** Nomad's defaults: a batch slot gets one more copy a day; a service slot keeps trying, ever more slowly. */
export const RESCHEDULE_DEFAULTS: Record<SchedJob['type'], SchedReschedule> = {
  batch: { attempts: 1, interval: 24 * HOUR, delay: 5_000, maxDelay: 5_000, unlimited: false },
  service: { attempts: 0, interval: 0, delay: 30_000, maxDelay: HOUR, unlimited: true },
  // A system slot's copy can only go back to its own device, so it keeps trying there as a service does; each
  // periodic run is a batch slot of its own, so a run gives up as a batch copy does and the next run starts afresh.
  system: { attempts: 0, interval: 0, delay: 30_000, maxDelay: HOUR, unlimited: true },
  periodic: { attempts: 1, interval: 24 * HOUR, delay: 5_000, maxDelay: 5_000, unlimited: false },
};

export type RescheduleDecision =
  | { readonly kind: 'place' }
  /** The next copy waits until `until`: placement is revisited then. */
  | { readonly kind: 'wait'; readonly until: number }
  /** The slot failed `failures` times within the interval and gets no new copy of this version. */
  | { readonly kind: 'exhausted'; readonly failures: number };

export function reschedulePolicy(job: Pick<SchedJob, 'type' | 'reschedule'>): SchedReschedule {
  const given = Object.entries(job.reschedule ?? {}).filter(([, value]) => value !== undefined);
  return { ...RESCHEDULE_DEFAULTS[job.type], ...Object.fromEntries(given) };
}

/**
 * For a slot with no live copy: place it now, wait, or give up. `copies` are the slot's recorded copies; only
 * failed ones of `version` count (a new version starts afresh, a lost device's copies were not failures).
 * Failures are counted over the copies still recorded: an operator who collects finished copies sooner than
 * `interval` (`--gc-finished-max-age-ms`) gives a batch slot more attempts.
 */
export function rescheduleDecision(
  copies: readonly Pick<SchedAllocation, 'jobVersion' | 'state' | 'startedAt' | 'finishedAt'>[],
  version: number,
  policy: SchedReschedule,
  now: number,
): RescheduleDecision {
  const failedAt = copies
    .filter((c) => c.jobVersion === version && c.state === 'failed')
    .map((c) => c.finishedAt ?? c.startedAt);
  if (failedAt.length === 0) return { kind: 'place' };
  const last = Math.max(...failedAt);
  const counted = policy.unlimited ? failedAt : failedAt.filter((at) => at > now - policy.interval);
  // The first failure was the original copy; each one after it used an attempt.
  if (!policy.unlimited && counted.length > policy.attempts)
    return { kind: 'exhausted', failures: counted.length };
  const until = last + nextDelay(counted.length, policy);
  return until > now ? { kind: 'wait', until } : { kind: 'place' };
}

/** The wait after the `failures`-th failure: `delay`, doubling per failure up to `maxDelay`. */
export function nextDelay(failures: number, policy: Pick<SchedReschedule, 'delay' | 'maxDelay'>): number {
  const doublings = Math.min(Math.max(0, failures - 1), 40);
  return Math.min(policy.maxDelay, policy.delay * 2 ** doublings);
}
