/**
 * The timers behind an alloc's one rollout verdict (scheduler/rollout.ts reads it). Judged by this node's
 * clock, once: healthy after an unbroken run of `minHealthyTime`, unhealthy when `healthyDeadline` passes from
 * placement without that. The caller decides what a run is (passing checks, or just running) and writes the
 * verdict into the status, where it stays; these timers only say when.
 */

import type { UpdateStrategy } from '../../crdt/job-spec.js';
import type { AllocStatus } from '../../crdt/records.js';

type Verdict = NonNullable<AllocStatus['verdict']>;

/** The status schema's limit: a longer reason would make the whole status unwritable. */
const MAX_VERDICT_REASON = 1_024;

export function verdictOf(healthy: boolean, at: number, reason: string | undefined): Verdict {
  return { healthy, at, ...(reason === undefined ? {} : { reason: reason.slice(0, MAX_VERDICT_REASON) }) };
}

export class VerdictTimers {
  private healthySince: number | undefined;
  private healthyTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;

  /** `placedAt`: when this node took the alloc on (adopted it, after an agent restart). */
  constructor(
    private readonly update: UpdateStrategy | undefined,
    private readonly placedAt: number,
    private readonly now: () => number,
  ) {}

  /** Once per alloc: a deadline that fired or was settled is not armed again. */
  armDeadline(judged: boolean, missed: (reason: string) => void): void {
    const update = this.update;
    if (!update || judged || this.deadlineTimer !== undefined) return;
    const delay = this.placedAt + update.healthyDeadline - this.now();
    this.deadlineTimer = setTimeout(
      () => missed(`not healthy within healthyDeadline (${update.healthyDeadline} ms)`),
      Math.max(0, delay),
    );
    this.deadlineTimer.unref();
  }

  /** A run began; `passed` fires after `minHealthyTime` unless the run breaks first. */
  startHealthyRun(judged: boolean, passed: () => void): void {
    const update = this.update;
    if (!update || judged || this.healthySince !== undefined) return;
    const since = this.now();
    this.healthySince = since;
    clearTimeout(this.healthyTimer);
    this.healthyTimer = setTimeout(() => {
      if (this.healthySince === since) passed();
    }, update.minHealthyTime);
    this.healthyTimer.unref();
  }

  breakRun(): void {
    clearTimeout(this.healthyTimer);
    this.healthySince = undefined;
  }

  /** The verdict is in: neither timer may judge again. */
  settle(): void {
    this.breakRun();
    clearTimeout(this.deadlineTimer);
  }

  clear(): void {
    clearTimeout(this.healthyTimer);
    clearTimeout(this.deadlineTimer);
  }
}
