/**
 * The job spec's storage and hardware fields: volumes (host paths and named volumes kept per job on the device),
 * device nodes, privileges, capabilities, the user a workload runs as and its extra groups. Every field is
 * optional with no default, so specs written before these fields existed keep their hash.
 *
 * Devices stay strings in the stored spec (`/dev/video0:/dev/cam0:rw`, as Docker and Compose spell them), so a
 * spec reads back as written; `parseDevice` is the one reader of that syntax.
 */
import * as z from 'zod';
import { absolutePathProblem } from '../lib/host-path.js';
import { unknownField } from './job-spec-messages.js';

export const STORAGE_LIMITS = {
  volumes: 32,
  devices: 32,
  capabilities: 64,
  groups: 32,
  path: 1_024,
} as const;

/** Named volumes and user names: the shapes a directory name and a POSIX user name can safely take. */
const VOLUME_NAME = /^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/;
const CAPABILITY = /^(ALL|(CAP_)?[A-Z][A-Z0-9_]{0,31})$/;
const ACCOUNT = /^([a-z_][a-z0-9_-]{0,31}|[0-9]{1,10})$/;
const DEVICE_PERMISSIONS = /^(?!.*(.).*\1)[rwm]{1,3}$/;

/** Like job-spec.ts's `fields`: unknown keys are errors that suggest the field probably meant. */
function fields<Shape extends z.ZodRawShape>(shape: Shape) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys
            .slice(0, 16)
            .map((key) => unknownField(key, known))
            .join('\n')
        : undefined,
  });
}

function absolutePath(description: string) {
  return z
    .string()
    .min(1)
    .max(STORAGE_LIMITS.path)
    .superRefine((path, ctx) => {
      const problem = absolutePathProblem(path);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: path });
    })
    .meta({ description });
}

const volumeSchema = fields({
  source: absolutePath(
    'A directory (or file) on the device, mounted as it is. The device must allow it: meshd --allow-host-path.',
  ).optional(),
  name: z
    .string()
    .regex(VOLUME_NAME, {
      error: 'must be 1-63 lowercase letters, digits, "_" or "-", starting and ending with a letter or digit',
    })
    .optional()
    .meta({
      description:
        'A named volume: a directory the device keeps for this job (under its data dir), so the next copy of ' +
        'the job on the same device finds the data again.',
    }),
  target: absolutePath(
    'Where the workload sees it: a path in the container; for exec, a link at that path under the work dir.',
  ),
  readOnly: z.boolean().optional().meta({ description: 'Mount read-only (docker only). Default false.' }),
}).meta({ description: 'Give exactly one of source (a host path) or name (a named volume).' });

export interface DeviceMapping {
  readonly host: string;
  readonly container: string;
  /** Some of r, w, m (mknod), as Docker's cgroup rule. */
  readonly permissions: string;
}

/** `host[:container[:permissions]]`, as `docker run --device`; an error message for anything else. */
export function parseDevice(
  text: string,
): { ok: true; device: DeviceMapping } | { ok: false; error: string } {
  const parts = text.split(':');
  if (parts.length > 3)
    return { ok: false, error: 'must be host[:container[:permissions]], e.g. /dev/video0:/dev/cam0:rw' };
  const [host = '', container = host, permissions = 'rwm'] = parts;
  for (const [what, path] of [
    ['host path', host],
    ['container path', container],
  ] as const) {
    if (!path.startsWith('/dev/'))
      return { ok: false, error: `the ${what} must be a device under /dev/, got "${path}"` };
    const problem = absolutePathProblem(path);
    if (problem !== undefined) return { ok: false, error: `the ${what} ${problem}` };
  }
  if (!DEVICE_PERMISSIONS.test(permissions)) {
    return { ok: false, error: `permissions must be some of r, w and m, each once, got "${permissions}"` };
  }
  return { ok: true, device: { host, container, permissions } };
}

const deviceSchema = z
  .string()
  .max(2 * STORAGE_LIMITS.path + 8)
  .superRefine((text, ctx) => {
    const parsed = parseDevice(text);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.error, input: text });
  });

const capability = z.string().regex(CAPABILITY, {
  error: 'must be a Linux capability such as NET_ADMIN or CAP_SYS_TIME, or ALL',
});
const account = (what: string) =>
  z.string().regex(ACCOUNT, { error: `must be a ${what} name or a numeric id` });

/** The fields jobFields (job-spec.ts) spreads in. */
export const storageFields = {
  volumes: z.array(volumeSchema).max(STORAGE_LIMITS.volumes).optional(),
  devices: z
    .array(deviceSchema)
    .max(STORAGE_LIMITS.devices)
    .optional()
    .meta({
      description:
        'Device nodes handed to the workload: host[:container[:permissions]], e.g. /dev/ttyUSB0 or ' +
        '/dev/video0:/dev/cam0:rw. Only devices that have every host path listed run the job.',
    }),
  privileged: z.boolean().optional().meta({ description: 'Docker only: every device and capability.' }),
  capAdd: z
    .array(capability)
    .max(STORAGE_LIMITS.capabilities)
    .optional()
    .meta({ description: 'Docker only.' }),
  capDrop: z
    .array(capability)
    .max(STORAGE_LIMITS.capabilities)
    .optional()
    .meta({ description: 'Docker only.' }),
  groupAdd: z
    .array(account('group'))
    .max(STORAGE_LIMITS.groups)
    .optional()
    .meta({ description: 'Extra groups the workload runs with (e.g. dialout for a serial port).' }),
  user: account('user').optional().meta({
    description:
      'User the workload runs as: a name or uid. Default: the image user, or the agent user for exec.',
  }),
};

type StorageFields = { [K in keyof typeof storageFields]?: z.output<(typeof storageFields)[K]> };
export type Volume = NonNullable<StorageFields['volumes']>[number];
type Issue = (path: (string | number)[], message: string) => void;

/** Rules across the storage fields and the driver: what a job asks must be something its driver can honour. */
export function checkStorageRules(job: StorageFields & { driver: 'docker' | 'exec' }, issue: Issue): void {
  const targets = new Set<string>();
  const names = new Set<string>();
  (job.volumes ?? []).forEach((v, index) => {
    if ((v.source === undefined) === (v.name === undefined))
      issue(['volumes', index], 'give exactly one of source (a host path) or name (a named volume)');
    if (v.target === '/') issue(['volumes', index, 'target'], 'must not be "/"');
    if (targets.has(v.target)) issue(['volumes', index, 'target'], `duplicate target ${v.target}`);
    targets.add(v.target);
    if (v.name !== undefined && names.has(v.name))
      issue(['volumes', index, 'name'], `duplicate volume name "${v.name}"`);
    if (v.name !== undefined) names.add(v.name);
    const outer =
      job.driver === 'exec' ? [...targets].find((t) => t !== v.target && nested(t, v.target)) : undefined;
    if (outer !== undefined) {
      issue(
        ['volumes', index, 'target'],
        `the exec driver links volumes, so ${v.target} cannot share a path with ${outer}: use separate targets`,
      );
    }
    if (job.driver === 'exec' && v.readOnly === true) {
      issue(
        ['volumes', index, 'readOnly'],
        'the exec driver cannot make a path read-only (it links, it does not mount): use docker or drop readOnly',
      );
    }
  });
  const containers = new Set<string>();
  (job.devices ?? []).forEach((text, index) => {
    const parsed = parseDevice(text);
    if (!parsed.ok) return;
    const { host, container, permissions } = parsed.device;
    if (containers.has(container)) issue(['devices', index], `duplicate device ${container}`);
    containers.add(container);
    if (job.driver === 'exec' && (container !== host || permissions !== 'rwm')) {
      issue(
        ['devices', index],
        'the exec driver runs on the host: give the device path alone; it cannot map or restrict it',
      );
    }
  });
  for (const field of ['capAdd', 'capDrop', 'groupAdd'] as const) {
    const seen = new Set<string>();
    (job[field] ?? []).forEach((value, index) => {
      if (seen.has(value)) issue([field, index], `duplicate ${value}`);
      seen.add(value);
    });
  }
  if (job.driver === 'exec') {
    const asked = {
      privileged: job.privileged === true,
      capAdd: !!job.capAdd?.length,
      capDrop: !!job.capDrop?.length,
    };
    for (const [field, given] of Object.entries(asked)) {
      if (given)
        issue([field], `the exec driver cannot grant ${field}: use the docker driver, or run as a user`);
    }
    if (job.groupAdd !== undefined && job.user === undefined)
      issue(['groupAdd'], 'the exec driver adds groups when it switches user: give user as well');
  }
}

/** One of two absolute paths lies under the other. */
function nested(a: string, b: string): boolean {
  return b.startsWith(`${a}/`) || a.startsWith(`${b}/`);
}

/** The host paths a job mounts: a device runs it only when its allow-list covers every one. */
export function hostPathsOf(job: StorageFields): string[] {
  return (job.volumes ?? []).flatMap((v) => (v.source === undefined ? [] : [v.source]));
}

/** The host device paths a job needs: a device runs it only when it has every one. */
export function deviceHostPaths(job: StorageFields): string[] {
  return (job.devices ?? []).flatMap((text) => {
    const parsed = parseDevice(text);
    return parsed.ok ? [parsed.device.host] : [];
  });
}
