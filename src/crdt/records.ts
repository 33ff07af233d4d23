import { z } from 'zod';
import { parseJson } from '../lib/json-text.js';

/**
 * Node record and allocation status as replicated (docs/contracts.md). Both are read back from documents any peer
 * could have written to, so reads go through these schemas and anything that does not fit is ignored.
 */
const count = z.number().int().min(0);
const shortText = z.string().max(256);

export const nodeRecordSchema = z.object({
  peerId: z.string().min(1).max(128),
  name: shortText,
  labels: z.record(shortText, shortText),
  arch: shortText,
  os: shortText,
  cpu: count,
  memory: count,
  reserved: z.object({ cpu: count, memory: count }),
  drivers: z.array(z.enum(['docker', 'exec'])),
  agentVersion: shortText,
  addresses: z.array(z.string().max(512)).max(64),
  /** `trustRootOf` the operators this node accepts jobs from; absent in an open mesh and from older agents. */
  trustRoot: z.string().max(64).optional(),
  /**
   * When (ms) this run of the agent began a clean stop: peers count the node lost at once instead of after a
   * lost period of silence. Absent while it runs; its next start writes the record without it.
   */
  leaving: count.optional(),
  /**
   * Device paths present on the node (node/setup/devices.ts: a bounded set of patterns and --device) and host
   * path prefixes its operator lets jobs mount (--allow-host-path). Absent when empty, and from older agents,
   * which honour neither: jobs that need them are not placed there.
   */
  devices: z.array(z.string().max(256)).max(256).optional(),
  hostPaths: z.array(z.string().max(1024)).max(64).optional(),
  /** The device's X25519 public key (base64) that variables are sealed to; absent from older agents. */
  sealKey: z.string().max(64).optional(),
});
export type NodeRecord = z.output<typeof nodeRecordSchema>;

export const allocStateSchema = z.enum(['pending', 'starting', 'running', 'failed', 'complete', 'lost']);
export type AllocState = z.output<typeof allocStateSchema>;

export const allocStatusSchema = z.object({
  allocId: z.string().min(1).max(256),
  job: z.string().min(1).max(63),
  jobVersion: z.number().int().min(1),
  node: z.string().min(1).max(128),
  state: allocStateSchema,
  health: z.enum(['unknown', 'healthy', 'unhealthy']),
  startedAt: count,
  restarts: count,
  lastError: z.string().max(4096).optional(),
  /**
   * How the copy's workload last ended, once it has finished (complete or failed) and the code could be
   * observed; `finishedAt` is when (ms). Optional: older agents neither write nor need them, and their
   * schema strips them, so a status with them still parses everywhere.
   */
  exitCode: z.number().int().optional(),
  finishedAt: count.optional(),
  /**
   * The owner's one-time judgement of the copy for rollouts (scheduler/types.ts Verdict): written once, never
   * changed. Optional: statuses from agents that do not judge simply have none.
   */
  verdict: z.object({ healthy: z.boolean(), at: count, reason: z.string().max(1024).optional() }).optional(),
  /**
   * The host port each of the copy's dynamic ports got on its node (port name → port), for the catalog and
   * `alloc status`; static ports are in the job spec. Absent without dynamic ports, and from older agents.
   */
  ports: z
    .record(z.string().min(1).max(15), z.number().int().min(1).max(65_535))
    .refine((ports) => Object.keys(ports).length <= 64, { error: 'at most 64 ports' })
    .optional(),
});
export type AllocStatus = z.output<typeof allocStatusSchema>;

/** Parses stored JSON text; undefined for anything that is not a well-formed value of the schema. */
export function parseStored<T>(schema: z.ZodType<T>, text: string): T | undefined {
  let value: unknown;
  try {
    value = parseJson(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
