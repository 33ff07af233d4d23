/**
 * The job spec's `services:` field: names under which the job's running, healthy copies are found by other jobs
 * (the catalog in node/services, `GET /v1/services`, DNS `NAME.service.mycel`). A service names one of the job's
 * ports; its instances are the copies the job's own health check passes (or every running copy when the job has
 * none). Optional with no default, so specs written before the field existed keep their hash.
 */
import * as z from 'zod';
import { unknownField } from './job-spec-messages.js';

export const SERVICE_LIMITS = { services: 16, tags: 16, tag: 63 } as const;

/** One DNS label (RFC 1123), lowercase: the name is looked up as `NAME.service.mycel`. */
const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const TAG = /^[\x21-\x7e]+$/;

const serviceSchema = z
  .strictObject(
    {
      name: z.string().regex(SERVICE_NAME, {
        error: 'must be 1-63 lowercase letters, digits or "-", not starting or ending with "-" (a DNS label)',
      }),
      port: z.string().min(1).max(15).meta({ description: "The name of one of the job's ports." }),
      tags: z
        .array(
          z
            .string()
            .min(1)
            .max(SERVICE_LIMITS.tag)
            .regex(TAG, { error: 'must be printable characters without spaces' }),
        )
        .max(SERVICE_LIMITS.tags)
        .optional()
        .meta({ description: 'Free-form labels shown with every instance (`meshctl service status`).' }),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys
              .slice(0, 16)
              .map((key) => unknownField(key, ['name', 'port', 'tags']))
              .join('\n')
          : undefined,
    },
  )
  .meta({
    description:
      "A name other jobs find this job's copies under. Instances are the copies that run and pass the job's " +
      'health check (every running copy when the job has none), on devices not lost.',
  });

export const serviceFields = {
  services: z.array(serviceSchema).max(SERVICE_LIMITS.services).optional(),
};

export type Service = z.output<typeof serviceSchema>;
type Issue = (path: (string | number)[], message: string) => void;

/** Service names are unique in a job, and each names a port the job declares. */
export function checkServiceRules(
  job: { services?: readonly Service[] | undefined; ports: readonly { name: string }[] },
  issue: Issue,
): void {
  const ports = new Set(job.ports.map((p) => p.name));
  const names = new Set<string>();
  (job.services ?? []).forEach((service, index) => {
    if (names.has(service.name))
      issue(['services', index, 'name'], `duplicate service name "${service.name}"`);
    names.add(service.name);
    if (!ports.has(service.port)) {
      const declared = [...ports].map((p) => `"${p}"`).join(', ');
      issue(
        ['services', index, 'port'],
        ports.size === 0
          ? `names port "${service.port}", but the job declares no ports: add it under ports`
          : `names port "${service.port}", which the job does not declare (ports: ${declared})`,
      );
    }
    const tags = new Set<string>();
    (service.tags ?? []).forEach((tag, t) => {
      if (tags.has(tag)) issue(['services', index, 'tags', t], `duplicate tag "${tag}"`);
      tags.add(tag);
    });
  });
}
