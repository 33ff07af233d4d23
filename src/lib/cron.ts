/**
 * Cron schedules, through croner: 5 fields (minute hour day month weekday) or 6 (seconds first), in an IANA
 * time zone. Pure: every question carries its reference time, so no clock is read and no timer is started.
 */
import { Cron } from 'croner';

export interface CronSchedule {
  /** The first run strictly after `after` (ms), or undefined if the pattern never fires again. */
  next(after: number): number | undefined;
  /** The last run at or before `at` (ms), or undefined if there is none. */
  latest(at: number): number | undefined;
}

/** Parsed schedules by pattern and zone: placement asks on every change, parsing each time would dominate. */
const parsed = new Map<string, CronSchedule | undefined>();
const MAX_PARSED = 256;

/** Undefined when the pattern or time zone is not valid; `cronProblem` says why. */
export function cronSchedule(pattern: string, timeZone: string): CronSchedule | undefined {
  const key = `${timeZone} ${pattern}`;
  if (parsed.has(key)) return parsed.get(key);
  const schedule = cronProblem(pattern, timeZone) === undefined ? build(pattern, timeZone) : undefined;
  if (parsed.size >= MAX_PARSED) parsed.clear();
  parsed.set(key, schedule);
  return schedule;
}

function build(pattern: string, timeZone: string): CronSchedule {
  const cron = new Cron(pattern, { timezone: timeZone, paused: true, mode: 'auto' });
  return {
    next: (after) => cron.nextRun(new Date(after))?.getTime(),
    latest: (at) => {
      // croner looks strictly before its reference, in whole seconds: the next whole second makes `at` count.
      const [run] = cron.previousRuns(1, new Date(Math.floor(at / 1000) * 1000 + 1000));
      return run?.getTime();
    },
  };
}

/** Why a pattern or time zone cannot be used, in words for the person who wrote it; undefined when fine. */
export function cronProblem(pattern: string, timeZone: string): string | undefined {
  if (!timeZoneKnown(timeZone))
    return `unknown time zone "${timeZone}": use an IANA name such as "UTC" or "Europe/Berlin"`;
  const fields = pattern.trim().split(/\s+/).length;
  if (!pattern.trim().startsWith('@') && fields !== 5 && fields !== 6)
    return `needs 5 fields (minute hour day month weekday) or 6 (seconds first), not ${fields}`;
  try {
    if (build(pattern, timeZone).next(0) === undefined) return 'never fires';
  } catch (error) {
    return (error instanceof Error ? error.message : String(error)).replace(/^CronPattern: /, '');
  }
  return undefined;
}

function timeZoneKnown(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
    return true;
  } catch {
    return false;
  }
}
