/**
 * The job types beyond a fixed number of copies: `system` (one copy on every eligible device, so no `count`)
 * and `periodic` (a batch job launched on a cron schedule). Their fields and rules live here, beside the
 * general spec in job-spec.ts. The periodic fields are optional in the schema and filled in only for periodic
 * jobs, so the specs of every other type store without them and keep their hash.
 */
import * as z from 'zod';
import { cronProblem } from '../lib/cron.js';

export const DEFAULT_TIME_ZONE = 'UTC';
const MAX_SCHEDULE = 128;
const MAX_TIME_ZONE = 64;

export const periodicFields = {
  schedule: z
    .string()
    .min(1)
    .max(MAX_SCHEDULE)
    .optional()
    .meta({
      description:
        'periodic only: when runs launch, a cron expression of 5 fields (minute hour day month weekday) or 6 ' +
        '(seconds first), e.g. "*/15 * * * *".',
    }),
  timeZone: z
    .string()
    .min(1)
    .max(MAX_TIME_ZONE)
    .optional()
    .meta({ description: 'periodic only: the IANA time zone the schedule is read in. Default UTC.' }),
  prohibitOverlap: z.boolean().optional().meta({
    description: 'periodic only: a run does not launch while the previous run still runs. Default true.',
  }),
};

interface KindInput {
  readonly type: string;
  readonly count?: number | undefined;
  readonly schedule?: string | undefined;
  readonly timeZone?: string | undefined;
  readonly prohibitOverlap?: boolean | undefined;
}

/** Rules that tie the type to its fields; `issue` reports one problem at a path. */
export function checkKindRules(job: KindInput, issue: (path: string[], message: string) => void): void {
  if (job.type === 'system' && job.count !== undefined)
    issue(['count'], 'a system job runs one copy on every eligible device: remove count');
  if (job.type === 'periodic') {
    if (job.schedule === undefined)
      issue(['schedule'], 'a periodic job needs a schedule, e.g. "*/15 * * * *"');
    if (job.count !== undefined && job.count !== 1)
      issue(['count'], 'each run of a periodic job is one copy: remove count');
    // An overlong value already has its own issue: it is not parsed, nor echoed back a second time.
    const parseable =
      job.schedule !== undefined &&
      job.schedule.length <= MAX_SCHEDULE &&
      (job.timeZone?.length ?? 0) <= MAX_TIME_ZONE;
    const problem = parseable ? cronProblem(job.schedule!, job.timeZone ?? DEFAULT_TIME_ZONE) : undefined;
    if (problem !== undefined)
      issue([problem.startsWith('unknown time zone') ? 'timeZone' : 'schedule'], problem);
    return;
  }
  for (const field of ['schedule', 'timeZone', 'prohibitOverlap'] as const)
    if (job[field] !== undefined)
      issue([field], `only a periodic job takes ${field} (this one is ${job.type})`);
}

/**
 * The stored form of the type's own fields: a system job's count is 0 (placement gives it one copy per
 * eligible device), a periodic job runs one copy per run with its time zone and overlap rule filled in.
 */
export function kindDefaults(job: KindInput): {
  count: number;
  schedule?: string;
  timeZone?: string;
  prohibitOverlap?: boolean;
} {
  if (job.type === 'system') return { count: 0 };
  if (job.type === 'periodic')
    return {
      count: 1,
      schedule: job.schedule!,
      timeZone: job.timeZone ?? DEFAULT_TIME_ZONE,
      prohibitOverlap: job.prohibitOverlap ?? true,
    };
  return { count: job.count ?? 1 };
}

/** The user-facing form drops what the type does not take (a system job's count). */
export function kindInput<Spec extends { type: string; count: number }>(
  spec: Spec,
): Omit<Spec, 'count'> & { count?: number } {
  if (spec.type !== 'system') return spec;
  const rest: Omit<Spec, 'count'> & { count?: number } = { ...spec };
  delete rest.count;
  return rest;
}
