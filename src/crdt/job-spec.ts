/**
 * The job spec: what users write (YAML/JSON, durations as strings) and what every device stores (the
 * normalised `JobSpec`: every default filled in, durations in milliseconds). Specs are replicated to every
 * device, so every string, list and map has a bound, and unknown fields are errors: a typo such as `cout:`
 * must not silently run one copy instead of three.
 */
import * as z from 'zod';
import { DURATION_PATTERN, formatDuration, parseDuration } from '../lib/duration.js';
import { imageRefProblem } from './image-name.js';
import { INTERPOLATION_HELP, templateProblem } from './interpolation.js';
import { checkKindRules, kindDefaults, kindInput, periodicFields } from './job-spec-kinds.js';
import { describeIssue, unknownField } from './job-spec-messages.js';
import { checkPortRules, PROTOCOLS, portSchema } from './job-spec-ports.js';
import { checkRescheduleRules, rescheduleInput } from './job-spec-reschedule.js';
import { checkServiceRules, serviceFields } from './job-spec-services.js';
import { checkStorageRules, storageFields } from './job-spec-storage.js';
import { checkTemplateRules, templateFields } from './job-spec-templates.js';
import { checkUpdateRules, rolloutFields } from './job-spec-update.js';
import { checkVarRules, varsFields } from './job-spec-vars.js';

export const DRIVERS = ['docker', 'exec'] as const;
export const JOB_TYPES = ['service', 'batch', 'system', 'periodic'] as const;
export const NETWORK_MODES = ['host', 'bridge'] as const;
export { PROTOCOLS };
export const CONSTRAINT_OPERATORS = ['=', '!=', 'in', 'not_in'] as const;
export const SCHEDULING_ALGORITHMS = ['binpack', 'spread'] as const;
export const RESTART_MODES = ['fail', 'delay'] as const;
export const HEALTH_CHECK_TYPES = ['http', 'tcp', 'exec'] as const;
export const RECONCILE_MODES = [
  'best_score',
  'keep_original',
  'keep_replacement',
  'longest_running',
] as const;
export const WHEN_ISOLATED = ['wait', 'replace'] as const;

export type Driver = (typeof DRIVERS)[number];
export type JobType = (typeof JOB_TYPES)[number];
export type NetworkMode = (typeof NETWORK_MODES)[number];
export type Protocol = (typeof PROTOCOLS)[number];
export type ConstraintOperator = (typeof CONSTRAINT_OPERATORS)[number];
export type SchedulingAlgorithm = (typeof SCHEDULING_ALGORITHMS)[number];
export type RestartMode = (typeof RESTART_MODES)[number];
export type HealthCheckType = (typeof HEALTH_CHECK_TYPES)[number];
export type ReconcileMode = (typeof RECONCILE_MODES)[number];

export const LIMITS = {
  count: 10_000,
  text: 4_096,
  args: 256,
  envEntries: 256,
  envBytes: 65_536,
  ports: 64,
  rules: 64,
  ruleValues: 64,
  ruleValueLength: 256,
  image: 512,
  durationMs: 8_760 * 3_600_000,
} as const;

const RESTART_DEFAULTS: Record<JobType, Restart> = {
  service: { attempts: 2, interval: 30 * 60_000, delay: 15_000, mode: 'fail' },
  batch: { attempts: 3, interval: 24 * 3_600_000, delay: 15_000, mode: 'fail' },
  system: { attempts: 2, interval: 30 * 60_000, delay: 15_000, mode: 'fail' },
  periodic: { attempts: 3, interval: 24 * 3_600_000, delay: 15_000, mode: 'fail' },
};

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/;
const IMAGE = /^[\x21-\x7e]+$/;
const ATTRIBUTE =
  /^(arch|os|name|driver|label\.[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?|device\.\/dev\/[A-Za-z0-9._/-]{1,250})$/;
const HTTP_PATH = /^\/[\x21-\x7e]*$/;

/**
 * Issues reported at most, the rest counted: nobody reads 20,000 errors, and finding each one's line costs time
 * the agent's event loop cannot spare.
 */
export const MAX_REPORTED_ISSUES = 50;

/** Like `z.strictObject`, with an error per unknown field that suggests the field probably meant. */
function fields<Shape extends z.ZodRawShape>(shape: Shape) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    // One line per key: `validateJobSpec` splits them so each unknown field gets its own position. Only the
    // reported ones get a suggestion; those past the cap are only counted.
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys
            .slice(0, MAX_REPORTED_ISSUES)
            .map((key) => unknownField(key, known))
            .join('\n')
        : undefined,
  });
}

function duration(description: string, min: number) {
  return z
    .string({ error: typeError('must be a duration such as "30s" or "5m"') })
    .max(32)
    .transform((text, ctx) => {
      const parsed = parseDuration(text);
      if (parsed.ok) return parsed.ms;
      ctx.issues.push({ code: 'custom', message: parsed.error, input: text });
      return z.NEVER;
    })
    .pipe(
      z
        .number()
        .min(min, { error: `must be at least ${formatDuration(min)}` })
        .max(LIMITS.durationMs, { error: `must be at most ${formatDuration(LIMITS.durationMs)}` }),
    )
    .meta({
      description: `${description} A duration such as "250ms", "10s", "5m" or "1h30m".`,
      pattern: DURATION_PATTERN,
    });
}

const text = (max = LIMITS.text) => z.string().min(1).max(max);

/** The kernel takes argv and environment as C strings: a NUL would cut the value, so no copy could ever start. */
function noNul(schema: z.ZodString) {
  return schema.refine((value) => !value.includes('\0'), {
    error: 'must not contain a NUL character (\\0): a process cannot be given one',
  });
}
const port = () => z.int().min(1).max(65_535);

const attribute = z
  .string()
  .regex(ATTRIBUTE, { error: 'must be arch, os, name, driver, label.<key> or device./dev/<name>' })
  .meta({
    description:
      'Node attribute: arch, os, name, driver, label.<key>, or device./dev/<name> ("true" when the device has it).',
  });
const singleValue = z
  .string()
  .max(LIMITS.ruleValueLength, { error: `must be at most ${LIMITS.ruleValueLength} characters` });

/** A constraint (or, with a weight, an affinity): the operator decides whether the value is one string or a list. */
function rule<Extra extends z.ZodRawShape>(extra: Extra) {
  return z.discriminatedUnion('operator', [
    fields({
      attribute,
      operator: z.enum(['=', '!=']),
      value: z
        .string({ error: typeError('operators = and != need a single value; use in or not_in for a list') })
        .max(LIMITS.ruleValueLength),
      ...extra,
    }),
    fields({
      attribute,
      operator: z.enum(['in', 'not_in']),
      value: z
        .array(singleValue, {
          error: typeError('operators in and not_in need a list of values, e.g. [a, b]'),
        })
        .min(1)
        .max(LIMITS.ruleValues),
      ...extra,
    }),
  ]);
}

/** A message for a value of the wrong type only, leaving length and range issues their own messages. */
function typeError(message: string) {
  return (issue: z.core.$ZodRawIssue) =>
    issue.code === 'invalid_type' && issue.input !== undefined ? message : undefined;
}

const constraintSchema = rule({});
const affinitySchema = rule({
  weight: z
    .int()
    .min(-100)
    .max(100)
    .refine((weight) => weight !== 0, { error: 'must not be 0: use a weight from -100 to 100' }),
});

const healthTiming = {
  interval: duration('Time between checks.', 1_000).prefault('10s'),
  timeout: duration('Time a check may take before it counts as failed.', 1).prefault('2s'),
};
const healthSchema = z.discriminatedUnion('type', [
  fields({
    type: z.literal('http'),
    path: z.string().max(1_024).regex(HTTP_PATH, { error: 'must start with "/"' }),
    port: port(),
    ...healthTiming,
  }),
  fields({ type: z.literal('tcp'), port: port(), ...healthTiming }),
  fields({
    type: z.literal('exec'),
    command: z.array(noNul(text())).min(1).max(LIMITS.args),
    ...healthTiming,
  }),
]);

const restartSchema = fields({
  attempts: z.int().min(0).max(1_000).optional(),
  interval: duration('Window in which at most `attempts` restarts happen.', 1_000).optional(),
  delay: duration('Wait before each restart.', 0).optional(),
  mode: z
    .enum(RESTART_MODES)
    .optional()
    .meta({ description: 'After the attempts run out: fail, or delay and retry.' }),
}).meta({ description: 'Defaults: service {2, 30m, 15s, fail}; batch {3, 24h, 15s, fail}.' });

// Stored as given: the scheduler fills what is left out from the defaults for the job's type
// (src/scheduler/reschedule.ts), and a spec without the block keeps its hash.
const rescheduleSchema = fields({
  attempts: z
    .int()
    .min(0)
    .max(1_000)
    .optional()
    .meta({ description: 'New copies of a slot allowed within `interval`.' }),
  interval: duration('Window in which at most `attempts` new copies are placed.', 1_000).optional(),
  delay: duration('Wait before the first new copy; doubles with each failure up to maxDelay.', 0).optional(),
  maxDelay: duration('Longest wait before a new copy.', 0).optional(),
  unlimited: z.boolean().optional().meta({ description: 'Keep placing new copies, however many fail.' }),
}).meta({
  description:
    'When a slot whose copy failed (its restarts on its device ran out) gets a new copy, on any device. ' +
    'Defaults: batch {attempts 1, interval 24h, delay 5s, maxDelay 5s}; service {unlimited, delay 30s, maxDelay 1h}.',
});

const updateSchema = fields({
  maxParallel: z.int().min(1).max(LIMITS.count).default(1),
  canary: z.int().min(0).max(LIMITS.count).default(0),
  minHealthyTime: duration('How long a new allocation must stay healthy.', 0).prefault('10s'),
  healthyDeadline: duration('How long a new allocation may take to become healthy.', 1_000).prefault('5m'),
  autoRevert: z.boolean().default(false),
  ...rolloutFields,
});

const disconnectSchema = fields({
  lostAfter: duration(
    'How long an unreachable device keeps its allocations before they are replaced.',
    0,
  ).prefault('0s'),
  replace: z.boolean().default(true),
  reconcile: z.enum(RECONCILE_MODES).default('best_score'),
  // No default: a spec without the field stores without it, so existing specs keep their hash.
  whenIsolated: z
    .enum(WHEN_ISOLATED)
    .optional()
    .meta({
      description:
        'When this device hears no other device, of several known: wait (default) replaces nothing, since it is ' +
        'most likely cut off itself; replace takes over lost copies anyway (a two-device site). While cut off both ' +
        'sides then run the copy; when they hear each other again, reconcile keeps exactly count.',
    }),
});

/** An `args` element or `env` value: its `${...}` names must be ones the device fills in (interpolation.ts). */
function template(schema: z.ZodString) {
  return schema.superRefine((value, ctx) => {
    const problem = templateProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: value });
  });
}

const envVariables = z
  .record(
    z.string().regex(ENV_NAME, {
      error: 'environment variable names are letters, digits and "_", not starting with a digit',
    }),
    template(noNul(z.string().max(LIMITS.text))),
  )
  .refine((env) => Object.keys(env).length <= LIMITS.envEntries, {
    error: `at most ${LIMITS.envEntries} variables`,
  })
  .refine(
    (env) => Object.entries(env).reduce((sum, [k, v]) => sum + k.length + v.length, 0) <= LIMITS.envBytes,
    {
      error: `names and values together must stay under ${LIMITS.envBytes} characters`,
    },
  );

const envSchema = z.preprocess((env, ctx) => {
  // zod drops a `__proto__` key without a word (YAML and JSON.parse make it an own key): say so instead.
  if (env !== null && typeof env === 'object' && Object.hasOwn(env, '__proto__')) {
    ctx.issues.push({
      code: 'custom',
      path: ['__proto__'],
      message: 'reserved name, not a variable',
      input: env,
    });
  }
  return env;
}, envVariables);

const jobFields = fields({
  name: z
    .string()
    .regex(NAME, { error: 'must be 1-63 lowercase letters, digits or "-", not starting or ending with "-"' }),
  type: z.enum(JOB_TYPES).default('service'),
  count: z
    .int()
    .min(0)
    .max(LIMITS.count)
    .optional()
    .meta({ description: 'How many copies run across the fleet. Default 1; a system job takes none.' }),
  ...periodicFields,
  driver: z.enum(DRIVERS),
  image: z
    .string()
    .min(1)
    .max(LIMITS.image)
    .regex(IMAGE, { error: 'must not contain spaces' })
    .superRefine((image, ctx) => {
      // A spaceless string that is still no reference (`--privileged`) would reach `docker run` as an option.
      const problem = IMAGE.test(image) ? imageRefProblem(image) : undefined;
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: image });
    })
    .optional(),
  command: noNul(text()).optional(),
  args: z
    .array(template(noNul(z.string().max(LIMITS.text))))
    .max(LIMITS.args)
    .default([])
    .meta({ description: `Arguments, each passed as one argv element (no shell). ${INTERPOLATION_HELP}` }),
  env: envSchema.default({}).meta({ description: `Environment variables. Values: ${INTERPOLATION_HELP}` }),
  network: z.enum(NETWORK_MODES).default('host'),
  ports: z.array(portSchema).max(LIMITS.ports).default([]),
  resources: fields({
    cpu: z.int().min(1).max(1_000_000).default(100).meta({ description: 'Millicores.' }),
    memory: z.int().min(1).max(4_194_304).default(300).meta({ description: 'Megabytes.' }),
  }).prefault({}),
  constraints: z.array(constraintSchema).max(LIMITS.rules).default([]),
  affinities: z.array(affinitySchema).max(LIMITS.rules).default([]),
  scheduling: fields({ algorithm: z.enum(SCHEDULING_ALGORITHMS).default('binpack') }).prefault({}),
  restart: restartSchema.optional(),
  reschedule: rescheduleSchema.optional(),
  health: healthSchema.optional(),
  update: updateSchema.prefault({}),
  disconnect: disconnectSchema.prefault({}),
  ...storageFields,
  ...serviceFields,
  ...varsFields,
  ...templateFields,
}).meta({ title: 'Mycel job', description: 'A job file for meshctl job run (YAML or JSON).' });

type JobFields = z.output<typeof jobFields>;
type PartialRestart = z.output<typeof restartSchema>;
export type Restart = { attempts: number; interval: number; delay: number; mode: RestartMode };

export const jobSpecSchema = jobFields
  .superRefine(checkCrossFieldRules)
  .transform(({ driver, image, command, restart, count, schedule, timeZone, prohibitOverlap, ...common }) => {
    // superRefine has established that docker has an image and exec a command and no image.
    const runtime =
      driver === 'docker'
        ? { driver, image: image!, ...(command === undefined ? {} : { command }) }
        : { driver, command: command! };
    // A dynamic port's container port, when not given, is its host port: known only on the device.
    const ports = common.ports.map((p) => ({ ...p, container: p.container ?? p.host }));
    const kind = kindDefaults({ type: common.type, count, schedule, timeZone, prohibitOverlap });
    return { ...common, ...kind, ...runtime, ports, restart: effectiveRestart(common.type, restart) };
  });

export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type JobSpec = z.output<typeof jobSpecSchema>;
export type Port = JobSpec['ports'][number];
export type Constraint = JobSpec['constraints'][number];
export type Affinity = JobSpec['affinities'][number];
export type HealthCheck = NonNullable<JobSpec['health']>;
export type UpdateStrategy = JobSpec['update'];
export type DisconnectPolicy = JobSpec['disconnect'];
export type ReschedulePolicy = NonNullable<JobSpec['reschedule']>;

export type PathSegment = string | number;
/** `target` says whether the field's name (an unknown field) or its value is at fault. */
export type JobSpecIssue = { path: PathSegment[]; message: string; target: 'name' | 'value' };
/** `omitted` counts the issues past MAX_REPORTED_ISSUES. */
export type JobSpecResult =
  | { ok: true; spec: JobSpec }
  | { ok: false; issues: JobSpecIssue[]; omitted: number };

export function validateJobSpec(input: unknown): JobSpecResult {
  const result = jobSpecSchema.safeParse(input, { error: describeIssue });
  if (result.success) return { ok: true, spec: result.data };
  const issues: JobSpecIssue[] = [];
  let omitted = 0;
  for (const issue of result.error.issues) {
    // Unknown keys come as one issue per mapping, however many: count them without expanding them.
    const size = issue.code === 'unrecognized_keys' ? issue.keys.length : 1;
    const room = MAX_REPORTED_ISSUES - issues.length;
    if (room > 0) issues.push(...toJobSpecIssues(issue, room));
    omitted += Math.max(0, size - Math.max(0, room));
  }
  return { ok: false, issues, omitted };
}

/** The user-facing form of a normalised spec: parsing it gives the same spec back. */
export function jobSpecToInput(spec: JobSpec): JobSpecInput {
  const { restart, reschedule, health, update, disconnect, ...rest } = spec;
  return {
    ...kindInput(rest),
    restart: { ...restart, interval: formatDuration(restart.interval), delay: formatDuration(restart.delay) },
    ...(reschedule === undefined ? {} : { reschedule: rescheduleInput(reschedule) }),
    ...(health === undefined
      ? {}
      : {
          health: {
            ...health,
            interval: formatDuration(health.interval),
            timeout: formatDuration(health.timeout),
          },
        }),
    update: {
      ...update,
      minHealthyTime: formatDuration(update.minHealthyTime),
      healthyDeadline: formatDuration(update.healthyDeadline),
    },
    disconnect: { ...disconnect, lostAfter: formatDuration(disconnect.lostAfter) },
  };
}

function effectiveRestart(type: JobType, restart: PartialRestart | undefined): Restart {
  return { ...RESTART_DEFAULTS[type], ...restart };
}

function checkCrossFieldRules(job: JobFields, ctx: z.RefinementCtx): void {
  const issue = (path: PathSegment[], message: string) => ctx.addIssue({ code: 'custom', path, message });

  if (job.driver === 'docker' && job.image === undefined)
    issue(['image'], 'the docker driver needs an image');
  if (job.driver === 'exec') {
    if (job.command === undefined) issue(['command'], 'the exec driver needs a command');
    if (job.image !== undefined) issue(['image'], 'the exec driver runs a host command and takes no image');
    if (job.network === 'bridge')
      issue(['network'], 'the exec driver runs on the host network: use network host');
  }

  checkKindRules(job, issue);
  checkUpdateRules(job, issue);

  const restart = effectiveRestart(job.type, job.restart);
  if (restart.attempts * restart.delay > restart.interval) {
    issue(
      ['restart', 'interval'],
      `${restart.attempts} restarts ${formatDuration(restart.delay)} apart do not fit in ${formatDuration(restart.interval)}`,
    );
  }

  checkRescheduleRules(job.reschedule, issue);
  checkStorageRules(job, issue);
  checkServiceRules(job, issue);
  checkVarRules(job, issue);
  checkTemplateRules(job, issue);

  checkPortRules(job, issue);
}

function toJobSpecIssues(issue: z.core.$ZodIssue, max: number): JobSpecIssue[] {
  const path = issue.path.map((segment) => (typeof segment === 'number' ? segment : String(segment)));
  if (issue.code === 'unrecognized_keys') {
    const messages = issue.message.split('\n');
    return issue.keys.slice(0, max).map((key, index) => ({
      path: [...path, key],
      message: messages[index] ?? `unknown field "${key}"`,
      target: 'name',
    }));
  }
  return [{ path, message: issue.message, target: issue.code === 'invalid_key' ? 'name' : 'value' }];
}
