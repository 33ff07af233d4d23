/**
 * What to do when a workload ends: Nomad's restart stanza, as a pure function of the policy, the times of
 * earlier restarts and `now`. The window slides: a restart is allowed when fewer than `attempts` restarts
 * happened in the `interval` before it. Past that, mode `fail` gives up and mode `delay` waits until the
 * oldest restart in the window leaves it (Nomad waits out its fixed window instead; a sliding one never lets
 * two windows' worth of restarts meet at a boundary). With `attempts: 0` mode `delay` restarts once per
 * interval, as Nomad does.
 *
 * The delay between restarts grows: `delay * factor^k` for the k-th restart in the window, capped, so a
 * workload that crashes on boot does not spin a small device's CPU and flash. A batch job that exits 0 is
 * done; a service that exits at all, even with 0, has failed (services are meant to run forever).
 */

import type { JobType, Restart } from '../../crdt/job-spec.js';
import { formatDuration } from '../../lib/duration.js';

export interface Backoff {
  readonly factor: number;
  /** Upper bound for the grown delay; a policy whose own delay is longer keeps its delay. */
  readonly capMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { factor: 2, capMs: 5 * 60_000 };

export interface Exit {
  readonly jobType: JobType;
  /** Absent when nobody saw the code (the workload ended while the agent was down, or it vanished). */
  readonly exitCode?: number | undefined;
  /**
   * It ended while the agent was down (found at adoption: a reboot, a power loss, an agent crash). Restarted
   * without the backoff delay: the device was down for longer than any delay, and a device that boots must run
   * its copies again at once (Nomad #24629). The restart still counts in the window, so a crash loop stays bounded.
   */
  readonly unwatched?: boolean | undefined;
}

export type RestartDecision =
  | { readonly action: 'complete' }
  /** `at` is when to start again; `delayMs` the backoff part of the wait, before any window wait. */
  | { readonly action: 'restart'; readonly at: number; readonly delayMs: number; readonly reason: string }
  | { readonly action: 'fail'; readonly reason: string };

/** The restarts that still count at `now`: the caller keeps only these, so its history stays bounded. */
export function restartsInWindow(policy: Restart, restarts: readonly number[], now: number): number[] {
  return restarts.filter((at) => now - at < policy.interval);
}

export function backoffDelay(policy: Restart, restartsInWindow: number, backoff = DEFAULT_BACKOFF): number {
  const cap = Math.max(policy.delay, backoff.capMs);
  return Math.min(cap, Math.round(policy.delay * backoff.factor ** restartsInWindow));
}

export function decideRestart(
  policy: Restart,
  exit: Exit,
  restarts: readonly number[],
  now: number,
  backoff = DEFAULT_BACKOFF,
): RestartDecision {
  if ((exit.jobType === 'batch' || exit.jobType === 'periodic') && exit.exitCode === 0)
    return { action: 'complete' };
  const recent = restartsInWindow(policy, restarts, now).sort((a, b) => a - b);
  const window = formatDuration(policy.interval);
  if (recent.length < policy.attempts) {
    const delayMs = exit.unwatched ? 0 : backoffDelay(policy, recent.length, backoff);
    return {
      action: 'restart',
      at: now + delayMs,
      delayMs,
      reason: `restart ${recent.length + 1} of ${policy.attempts} within ${window}`,
    };
  }
  if (policy.mode === 'fail') {
    return {
      action: 'fail',
      reason: `gave up after ${policy.attempts} restart${policy.attempts === 1 ? '' : 's'} within ${window} (restart mode fail)`,
    };
  }
  // Wait until one restart fewer than allowed remains in the window (one, for attempts 0).
  const allowed = Math.max(1, policy.attempts);
  const blocking = recent[recent.length - allowed];
  const delayMs = backoffDelay(policy, recent.length, backoff);
  const at = Math.max(now + delayMs, blocking === undefined ? now : blocking + policy.interval);
  return {
    action: 'restart',
    at,
    delayMs,
    reason: `${policy.attempts} restart${policy.attempts === 1 ? '' : 's'} used within ${window}; waiting ${formatDuration(at - now)} (restart mode delay)`,
  };
}
