/**
 * Agent configuration: one schema, four sources. Precedence is flag > MESH_* environment > YAML file > default,
 * resolved per key, so a file can set the labels while a flag overrides only the name.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { absolutePathProblem } from '../../lib/host-path.js';
import { LOG_LEVELS } from '../../lib/log-levels.js';
import { decodeJoinToken } from '../membership/join-token.js';
import { ConfigError, DRIVERS, parseLabels, RELAY_MODES } from './flag-values.js';

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/, 'expected host:port, e.g. 127.0.0.1:7411')
  .refine((value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535');

const multiaddrString = z.string().regex(/^\/(ip4|ip6|dns|dns4|dns6)\/[^/]+\/tcp\/\d+(\/p2p\/\w+)?$/, {
  message:
    'expected a TCP multiaddr such as /ip4/192.0.2.1/tcp/4001 or /ip4/192.0.2.1/tcp/4001/p2p/12D3Koo...',
});

/** `FROM-TO`: the host ports dynamic job ports are taken from (workloads/port-allocator.ts). */
export const portRange = z
  .string()
  .regex(/^\d{1,5}-\d{1,5}$/, 'expected FROM-TO, e.g. 20000-32000')
  .refine((value) => {
    const [from, to] = value.split('-').map(Number) as [number, number];
    return from >= 1024 && to <= 65535 && from <= to;
  }, 'expected 1024 <= FROM <= TO <= 65535');

const labelKey = /^[a-zA-Z0-9]([a-zA-Z0-9._/-]{0,61}[a-zA-Z0-9])?$/;

const durationMs = z.number().int().positive();

const absolutePath = z.string().superRefine((path, ctx) => {
  const problem = absolutePathProblem(path);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${path}: ${problem}` });
});

export const configSchema = z
  .object({
    dataDir: z.string().min(1),
    listen: z.array(multiaddrString).min(1),
    join: z.array(multiaddrString),
    api: hostPort,
    allowRemoteApi: z.boolean(),
    name: z
      .string()
      .min(1)
      .max(63)
      // Every member prints it (meshctl, the dashboard, logs): no terminal escapes or line breaks.
      .refine((n) => ![...n].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), {
        error: 'must not contain control characters',
      }),
    labels: z.record(
      z.string().regex(labelKey, 'label keys are 1-63 chars of [a-zA-Z0-9._/-]'),
      z.string().max(256),
    ),
    logLevel: z.enum(LOG_LEVELS),
    driver: z.enum(DRIVERS),
    dockerSocket: z.string().min(1),
    heartbeatIntervalMs: durationMs,
    suspectAfterMs: durationMs,
    lostAfterMs: durationMs,
    targetPeers: z.number().int().min(1).max(256),
    maxConnections: z.number().int().min(2).max(10_000),
    /** `server` on a member others can dial; `client` (default) on devices that may sit behind NAT. */
    relay: z.enum(RELAY_MODES),
    /** A closed mesh's join token (`meshctl mesh join-token`); without one the agent runs an open dev mesh. */
    joinToken: z
      .string()
      .optional()
      .superRefine((token, ctx) => {
        const decoded = token === undefined ? undefined : decodeJoinToken(token);
        if (decoded && !decoded.ok) ctx.addIssue({ code: 'custom', message: decoded.error });
      }),
    /** Loopback `host:port` of the registry endpoint Docker pulls through, or `off`. */
    registryListen: z.union([z.literal('off'), hostPort]),
    /** `host:port` of the DNS server answering `NAME.service.mycel` (node/services/dns-server.ts), or `off`. */
    dnsListen: z.union([z.literal('off'), hostPort]),
    portRange,
    registryCacheMb: z.number().int().min(16),
    registryInsecure: z.array(z.string().regex(/^[a-z0-9.-]+(:\d{1,5})?$/, 'expected host or host:port')),
    registryAuthFile: z.string(),
    /** Finished-copy GC (workloads/finished-gc.ts): finished copies kept per job, and for how long. */
    gcFinishedPerJob: z.number().int().min(1).max(10_000),
    gcFinishedMaxAgeMs: durationMs,
    /** Host path prefixes jobs may mount here; none by default, so a signed job cannot mount `/` uninvited. */
    allowHostPath: z.array(absolutePath).max(64),
    /** Device paths this node advertises besides the patterns setup/devices.ts looks for. */
    device: z
      .array(absolutePath.refine((p) => p.startsWith('/dev/'), 'a device is a path under /dev/'))
      .max(64),
  })
  .strict()
  .refine((c) => c.suspectAfterMs > c.heartbeatIntervalMs, {
    path: ['suspectAfterMs'],
    message: 'must be longer than heartbeatIntervalMs, or every peer flaps to suspect',
  })
  .refine((c) => c.lostAfterMs > c.suspectAfterMs, {
    path: ['lostAfterMs'],
    message: 'must exceed suspectAfterMs',
  })
  .refine((c) => c.maxConnections > c.targetPeers, {
    path: ['maxConnections'],
    message: 'must exceed targetPeers, or inbound peers can never connect',
  });

export type AgentConfig = z.output<typeof configSchema>;

/**
 * Liveness defaults are sized for 50-200 ms WAN links that drop packets: three heartbeat intervals without a
 * beat before suspicion, and long enough before "lost" that a brief flap does not move work.
 */
export function defaultConfig(): AgentConfig {
  return {
    dataDir: './mesh-data',
    listen: ['/ip4/0.0.0.0/tcp/4001'],
    join: [],
    api: '127.0.0.1:7411',
    allowRemoteApi: false,
    name: hostname(),
    labels: {},
    logLevel: 'info',
    driver: 'auto',
    dockerSocket: '/var/run/docker.sock',
    heartbeatIntervalMs: 2_000,
    suspectAfterMs: 6_000,
    lostAfterMs: 20_000,
    targetPeers: 8,
    maxConnections: 64,
    relay: 'client',
    registryListen: '127.0.0.1:5050',
    dnsListen: 'off',
    // Nomad's default dynamic range: above the usual static ports, below Linux's ephemeral ones (32768-60999).
    portRange: '20000-32000',
    registryCacheMb: 4096,
    registryInsecure: [],
    registryAuthFile: '',
    // As DEFAULT_FINISHED_GC (workloads/finished-gc.ts), which the wings below workloads cannot import.
    gcFinishedPerJob: 10,
    gcFinishedMaxAgeMs: 24 * 60 * 60_000,
    allowHostPath: [],
    device: [],
  };
}

type Key = keyof AgentConfig;
type Layer = { [K in Key]?: unknown };

/** How each key is spelled in each source. Lists (listen, join, label) repeat on the command line. */
const KEYS: Record<
  Key,
  { env: string; file: string; kind: 'string' | 'list' | 'labels' | 'number' | 'boolean' }
> = {
  dataDir: { env: 'MESH_DATA_DIR', file: 'data-dir', kind: 'string' },
  listen: { env: 'MESH_LISTEN', file: 'listen', kind: 'list' },
  join: { env: 'MESH_JOIN', file: 'join', kind: 'list' },
  api: { env: 'MESH_API_LISTEN', file: 'api', kind: 'string' },
  allowRemoteApi: { env: 'MESH_ALLOW_REMOTE_API', file: 'allow-remote-api', kind: 'boolean' },
  name: { env: 'MESH_NAME', file: 'name', kind: 'string' },
  labels: { env: 'MESH_LABELS', file: 'labels', kind: 'labels' },
  logLevel: { env: 'MESH_LOG_LEVEL', file: 'log-level', kind: 'string' },
  driver: { env: 'MESH_DRIVER', file: 'driver', kind: 'string' },
  dockerSocket: { env: 'MESH_DOCKER_SOCKET', file: 'docker-socket', kind: 'string' },
  heartbeatIntervalMs: { env: 'MESH_HEARTBEAT_INTERVAL_MS', file: 'heartbeat-interval-ms', kind: 'number' },
  suspectAfterMs: { env: 'MESH_SUSPECT_AFTER_MS', file: 'suspect-after-ms', kind: 'number' },
  lostAfterMs: { env: 'MESH_LOST_AFTER_MS', file: 'lost-after-ms', kind: 'number' },
  targetPeers: { env: 'MESH_TARGET_PEERS', file: 'target-peers', kind: 'number' },
  maxConnections: { env: 'MESH_MAX_CONNECTIONS', file: 'max-connections', kind: 'number' },
  relay: { env: 'MESH_RELAY', file: 'relay', kind: 'string' },
  joinToken: { env: 'MESH_JOIN_TOKEN', file: 'join-token', kind: 'string' },
  registryListen: { env: 'MESH_REGISTRY_LISTEN', file: 'registry-listen', kind: 'string' },
  dnsListen: { env: 'MESH_DNS_LISTEN', file: 'dns-listen', kind: 'string' },
  portRange: { env: 'MESH_PORT_RANGE', file: 'port-range', kind: 'string' },
  registryCacheMb: { env: 'MESH_REGISTRY_CACHE_MB', file: 'registry-cache-mb', kind: 'number' },
  registryInsecure: { env: 'MESH_REGISTRY_INSECURE', file: 'registry-insecure', kind: 'list' },
  gcFinishedPerJob: { env: 'MESH_GC_FINISHED_PER_JOB', file: 'gc-finished-per-job', kind: 'number' },
  gcFinishedMaxAgeMs: { env: 'MESH_GC_FINISHED_MAX_AGE_MS', file: 'gc-finished-max-age-ms', kind: 'number' },
  registryAuthFile: { env: 'MESH_REGISTRY_AUTH_FILE', file: 'registry-auth-file', kind: 'string' },
  allowHostPath: { env: 'MESH_ALLOW_HOST_PATH', file: 'allow-host-path', kind: 'list' },
  device: { env: 'MESH_DEVICE', file: 'device', kind: 'list' },
};

/** Environment values are strings: lists are comma separated, labels `k=v,k2=v2`. */
function fromEnv(env: NodeJS.ProcessEnv): Layer {
  const out: Layer = {};
  for (const [key, spec] of Object.entries(KEYS) as [Key, (typeof KEYS)[Key]][]) {
    const raw = env[spec.env];
    if (raw === undefined || raw === '') continue;
    out[key] = coerceString(raw, spec.kind, spec.env);
  }
  return out;
}

function coerceString(raw: string, kind: (typeof KEYS)[Key]['kind'], source: string): unknown {
  switch (kind) {
    case 'string':
      return raw;
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    case 'labels':
      return parseLabels(
        raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        source,
      );
    case 'number': {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new ConfigError(`${source}: expected a number, got "${raw}"`);
      return n;
    }
    case 'boolean':
      if (/^(1|true|yes)$/i.test(raw)) return true;
      if (/^(0|false|no)$/i.test(raw)) return false;
      throw new ConfigError(`${source}: expected true or false, got "${raw}"`);
  }
}

function fromFile(file: unknown, fileName: string): Layer {
  if (file === null || file === undefined) return {};
  if (typeof file !== 'object' || Array.isArray(file)) {
    throw new ConfigError(`${fileName}: expected a mapping of settings at the top level`);
  }
  const byFileKey = new Map(Object.entries(KEYS).map(([key, spec]) => [spec.file, key as Key]));
  const out: Layer = {};
  for (const [fileKey, value] of Object.entries(file)) {
    const key = byFileKey.get(fileKey);
    if (!key) {
      const known = [...byFileKey.keys()].join(', ');
      throw new ConfigError(`${fileName}: unknown setting "${fileKey}" (known: ${known})`);
    }
    out[key] = value;
  }
  return out;
}

export interface ConfigSources {
  /** Values given on the command line, already split into lists; undefined when the flag was not given. */
  flags: Layer;
  env: NodeJS.ProcessEnv;
  /** The parsed YAML of `--config`, when given. */
  file?: { name: string; content: unknown };
}

export function resolveConfig(sources: ConfigSources): AgentConfig {
  const layers = [
    defaultConfig() as Layer,
    sources.file ? fromFile(sources.file.content, sources.file.name) : {},
    fromEnv(sources.env),
    sources.flags,
  ];
  const merged: Layer = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value !== undefined) merged[key as Key] = value;
    }
  }
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = issue.path[0] as Key | undefined;
      const where = key && KEYS[key] ? `--${KEYS[key].file} / ${KEYS[key].env}` : 'config';
      const sub = issue.path.length > 1 ? ` (${issue.path.slice(1).join('.')})` : '';
      return `${where}${sub}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return parsed.data;
}
