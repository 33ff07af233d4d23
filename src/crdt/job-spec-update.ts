/**
 * The rollout fields of a job's `update` block beside its schema in job-spec.ts (`waves`, `maxFailureRatio`,
 * `autoPromote`), and the rules of the whole block that span fields. The new fields are optional with no
 * default, so specs written before they existed keep their hash. What they mean is scheduler/waves.ts.
 */
import * as z from 'zod';

const UPDATE_LIMITS = { waves: 10 } as const;

export const rolloutFields = {
  waves: z
    .array(z.int().min(1).max(100))
    .min(1)
    .max(UPDATE_LIMITS.waves)
    .optional()
    .meta({
      description:
        'Roll a new version out in waves: each entry is the percentage of copies (of devices, for a system job) ' +
        'on the new version once that wave has moved, increasing and ending at 100, e.g. [10, 25, 100]. A wave ' +
        'moves once every copy of the waves before it was judged healthy (minHealthyTime); a wave whose share ' +
        'of copies judged unhealthy passes maxFailureRatio halts the rollout and reverts every copy to the last ' +
        'stable version.',
    }),
  maxFailureRatio: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .meta({
      description:
        "With waves: the share of a wave's copies that may be judged unhealthy before the wave fails (0, the " +
        'default: any). A tolerated failure settles its slot: it stays on its old version until the next one.',
    }),
  autoPromote: z
    .boolean()
    .optional()
    .meta({
      description:
        'false: the rollout stops once its first wave (or its canaries) is healthy and waits for ' +
        '`meshctl job promote NAME`. Default true.',
    }),
};

interface UpdateBlock {
  readonly canary: number;
  readonly minHealthyTime: number;
  readonly healthyDeadline: number;
  readonly waves?: readonly number[] | undefined;
  readonly maxFailureRatio?: number | undefined;
  readonly autoPromote?: boolean | undefined;
}

type Issue = (path: (string | number)[], message: string) => void;

export function checkUpdateRules(
  job: { readonly type: string; readonly count?: number | undefined; readonly update: UpdateBlock },
  issue: Issue,
): void {
  const { update } = job;
  if (job.type !== 'system' && update.canary > (job.count ?? 1))
    issue(['update', 'canary'], `must be <= count (${job.count ?? 1})`);
  if (update.healthyDeadline <= update.minHealthyTime)
    issue(['update', 'healthyDeadline'], 'must be longer than minHealthyTime');
  const { waves } = update;
  if (waves !== undefined && waves.length > 0) {
    waves.forEach((percent, i) => {
      if (i > 0 && percent <= waves[i - 1]!)
        issue(['update', 'waves', i], `must be more than the wave before it (${waves[i - 1]}%)`);
    });
    if (waves.at(-1) !== 100)
      issue(['update', 'waves', waves.length - 1], 'the last wave must be 100: every copy moves in the end');
    if (update.canary > 0)
      issue(['update', 'canary'], 'waves and canary both say what goes first: use one of them');
  }
  if (update.maxFailureRatio !== undefined && waves === undefined)
    issue(['update', 'maxFailureRatio'], 'only applies with waves: add waves or leave it out');
  if (update.autoPromote === false && waves === undefined && update.canary === 0)
    issue(
      ['update', 'autoPromote'],
      'a rollout waits for promotion after its first wave or its canaries: add waves or canary',
    );
  if (job.type === 'batch' || job.type === 'periodic')
    for (const field of ['waves', 'autoPromote'] as const)
      if (update[field] !== undefined)
        issue(['update', field], `a ${job.type} job's copies run to completion and do not roll out in waves`);
}
