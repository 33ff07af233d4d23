/**
 * The job spec's `ports:` field. A port with a `host` is static: the scheduler counts it as a resource and places
 * at most one copy holding it per device. A port without one is dynamic (Nomad's): the device running a copy
 * picks a free host port from its range (`meshd --port-range`, node/workloads/port-allocator.ts) and hands it
 * to the copy as `MYCEL_PORT_<NAME>` and `${alloc.port.<name>}`, so any number of copies share a device.
 */
import * as z from 'zod';
import { parseTemplate } from './interpolation.js';
import { unknownField } from './job-spec-messages.js';

export const PROTOCOLS = ['tcp', 'udp'] as const;

const PORT_NAME = /^[a-z]([a-z0-9-]{0,13}[a-z0-9])?$/;
const port = () => z.int().min(1).max(65_535);
const KEYS = ['name', 'host', 'container', 'protocol'];

export const portSchema = z.strictObject(
  {
    name: z
      .string()
      .regex(PORT_NAME, { error: 'must be 1-15 lowercase letters, digits or "-", starting with a letter' }),
    host: port()
      .optional()
      .meta({
        description:
          "Port on the device. Omit it for a dynamic port: each copy gets a free one from the device's range " +
          `(meshd --port-range), as MYCEL_PORT_<NAME> and ${'$'}{alloc.port.<name>}.`,
      }),
    container: port().optional().meta({
      description:
        'Port inside the container (network bridge); defaults to the host port, the dynamic one included.',
    }),
    protocol: z.enum(PROTOCOLS).default('tcp'),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys
            .slice(0, 16)
            .map((key) => unknownField(key, KEYS))
            .join('\n')
        : undefined,
  },
);

type PortInput = z.output<typeof portSchema>;
type Issue = (path: (string | number)[], message: string) => void;

/**
 * The environment variable a port is handed in: name upper-cased, anything else `_`. One-to-one on port names
 * (lowercase letters, digits and "-"), so two ports never share a variable.
 */
export function portEnvName(name: string): string {
  return `MYCEL_PORT_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * Port names are unique, a static host port is used once per protocol, network
 * host takes no container port, and every `${alloc.port.<name>}` in args and env names a declared port.
 */
export function checkPortRules(
  job: {
    network: 'host' | 'bridge';
    ports: readonly PortInput[];
    args: readonly string[];
    env: Readonly<Record<string, string>>;
    health?: { type: string; port?: number } | undefined;
  },
  issue: Issue,
): void {
  // A check's port is a number, which names no dynamic port's host port: the agent would check the wrong one.
  const checked = job.health?.port;
  const dynamic = job.ports.filter((p) => p.host === undefined);
  if (checked !== undefined && job.network === 'bridge' && dynamic.some((p) => p.container === checked))
    issue(
      ['health', 'port'],
      'names the container port of a dynamic port, which a check cannot reach yet: use an exec check',
    );
  const names = new Set<string>();
  const hostPorts = new Set<string>();
  job.ports.forEach((p, index) => {
    if (names.has(p.name)) issue(['ports', index, 'name'], `duplicate port name "${p.name}"`);
    names.add(p.name);
    if (p.host !== undefined) {
      // One host port may serve tcp and udp at once (DNS does), so uniqueness is per protocol.
      const hostPort = `${p.host}/${p.protocol}`;
      if (hostPorts.has(hostPort))
        issue(['ports', index, 'host'], `host port ${hostPort} is already used by another port`);
      hostPorts.add(hostPort);
    }
    if (job.network === 'host' && p.container !== undefined && p.container !== p.host) {
      issue(
        ['ports', index, 'container'],
        p.host === undefined
          ? 'with network host the workload listens on its dynamic host port (MYCEL_PORT_<NAME>): omit container'
          : 'with network host the workload listens on the host port: omit container',
      );
    }
  });
  const check = (value: string, path: (string | number)[]) => {
    const template = parseTemplate(value);
    if (!template.ok) return;
    for (const part of template.parts) {
      if ('port' in part && !names.has(part.port))
        issue(path, `\${alloc.port.${part.port}} names a port the job does not declare: add it under ports`);
    }
  };
  job.args.forEach((arg, index) => {
    check(arg, ['args', index]);
  });
  for (const [key, value] of Object.entries(job.env)) check(value, ['env', key]);
}
