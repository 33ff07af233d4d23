/**
 * The rules of a job's `reschedule` block beside its schema in job-spec.ts: what cannot mean anything, and the
 * block back in the form a job file has. The scheduler fills what is left out (scheduler/reschedule.ts).
 */
import { formatDuration } from '../lib/duration.js';

export interface RescheduleBlock {
  readonly attempts?: number | undefined;
  readonly interval?: number | undefined;
  readonly delay?: number | undefined;
  readonly maxDelay?: number | undefined;
  readonly unlimited?: boolean | undefined;
}

type Issue = (path: (string | number)[], message: string) => void;

export function checkRescheduleRules(reschedule: RescheduleBlock | undefined, issue: Issue): void {
  if (reschedule?.unlimited === true && reschedule.attempts !== undefined)
    issue(
      ['reschedule', 'attempts'],
      'unlimited places new copies without counting: leave out attempts or unlimited',
    );
  if (
    reschedule?.delay !== undefined &&
    reschedule.maxDelay !== undefined &&
    reschedule.maxDelay < reschedule.delay
  )
    issue(['reschedule', 'maxDelay'], `must be at least delay (${formatDuration(reschedule.delay)})`);
}

/** The stored block with its durations as text again, leaving out what the spec left out. */
export function rescheduleInput({ interval, delay, maxDelay, ...rest }: RescheduleBlock) {
  const text = (ms: number | undefined) => (ms === undefined ? undefined : formatDuration(ms));
  const durations = { interval: text(interval), delay: text(delay), maxDelay: text(maxDelay) };
  return {
    ...rest,
    ...Object.fromEntries(Object.entries(durations).filter(([, value]) => value !== undefined)),
  };
}
