/**
 * What the driver is asked to run for one allocation of a job spec. Pure. Besides the job's own environment
 * the workload learns who it is (as Nomad's NOMAD_ALLOC_ID and friends): the alloc id, the job, its version,
 * the name of the node running it (what operators call the device, as Nomad's NOMAD_NODE_NAME) and its peer id
 * (the node's identity in the mesh, as NOMAD_NODE_ID). These names win over the job's env, so a job cannot lie
 * about them. The drivers add their own (exec: MYCEL_ALLOC_DIR, limits, ports); README.md lists them all.
 * `${...}` names in `args` and `env` values are filled in with this device's values (interpolate.ts).
 */
import type { JobSpec } from '../../crdt/job-spec.js';
import { portEnvName } from '../../crdt/job-spec-ports.js';
import { parseAllocId } from '../../scheduler/alloc-id.js';
import { CONTAINER_COPY_DIR } from '../drivers/copy-dir.js';
import type { PortMapping, TaskSpec } from '../drivers/driver.js';
import { type DeviceValues, interpolateTask } from './interpolate.js';
import { taskHardware } from './task-hardware.js';

/** What the node running the allocation says of itself: its node record's name, labels, arch and os. */
export interface SelfNode {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly arch: string;
  readonly os: string;
}

export interface TaskIdentity {
  readonly allocId: string;
  readonly jobVersion: number;
  /** Peer id of the node that runs the allocation. */
  readonly owner: string;
  readonly node: SelfNode;
  /** The host port of each dynamic port, by name (port-allocator.ts). */
  readonly ports: Readonly<Record<string, number>>;
  /** Where the copy's templates were rendered on the host (drivers/copy-dir.ts), when it has any. */
  readonly copyDir?: string | undefined;
}

/** What `${...}` in args and env, and the copy's templates, know of the copy and this device. */
export function deviceValuesFor(spec: JobSpec, identity: TaskIdentity): DeviceValues {
  const mappings = portMappings(spec, identity.ports);
  return {
    node: { ...identity.node, id: identity.owner },
    alloc: {
      id: identity.allocId,
      index: allocIndex(spec, identity.allocId),
      ports: Object.fromEntries(mappings.map((p) => [p.name, p.host])),
    },
    job: { name: spec.name, version: identity.jobVersion },
  };
}

export function taskSpecFor(spec: JobSpec, identity: TaskIdentity): TaskSpec {
  const { allocId, jobVersion, owner, node, ports, copyDir } = identity;
  const mappings = portMappings(spec, ports);
  const { args, env } = interpolateTask(spec.args, spec.env, deviceValuesFor(spec, identity));
  // A docker copy sees its rendered templates where its directory is mounted; the exec driver sets its own.
  const mounted = spec.driver === 'docker' && copyDir !== undefined;
  const common = {
    allocId,
    job: spec.name,
    jobVersion,
    args,
    env: {
      ...env,
      MYCEL_ALLOC_ID: allocId,
      MYCEL_JOB: spec.name,
      MYCEL_JOB_VERSION: String(jobVersion),
      MYCEL_NODE: node.name,
      MYCEL_NODE_ID: owner,
      ...portVariables(mappings),
      ...(mounted ? { MYCEL_ALLOC_DIR: CONTAINER_COPY_DIR } : {}),
    },
    network: spec.network,
    ports: mappings,
    resources: { cpu: spec.resources.cpu, memory: spec.resources.memory },
    ...taskHardware(spec),
    ...(mounted ? { copyDir } : {}),
  };
  return spec.driver === 'docker'
    ? {
        ...common,
        driver: 'docker',
        image: spec.image,
        ...(spec.command === undefined ? {} : { command: spec.command }),
      }
    : { ...common, driver: 'exec', command: spec.command };
}

/** Each port with its host port, a dynamic one's from `ports`; its container port defaults to the host port. */
function portMappings(spec: JobSpec, ports: Readonly<Record<string, number>>): PortMapping[] {
  return spec.ports.flatMap(({ name, host, container, protocol }) => {
    const port = host ?? (Object.hasOwn(ports, name) ? ports[name] : undefined);
    return port === undefined ? [] : [{ name, host: port, container: container ?? port, protocol }];
  });
}

/**
 * MYCEL_PORT_<NAME>: the port the workload listens on (inside its container with network bridge);
 * MYCEL_HOST_PORT_<NAME>: where the device publishes it, which is what other devices dial.
 */
function portVariables(mappings: readonly PortMapping[]): Record<string, string> {
  return Object.fromEntries(
    mappings.flatMap((p) => {
      const name = portEnvName(p.name);
      return [
        [name, String(p.container)],
        [name.replace(/^MYCEL_PORT_/, 'MYCEL_HOST_PORT_'), String(p.host)],
      ];
    }),
  );
}

/**
 * `${alloc.index}`: the copy's slot for services and batch jobs. A system job's id carries the node's position
 * among the eligible devices when the copy was created, which a join or a leave renumbers, and a periodic run's id
 * carries the run's time: neither is an index a workload could rely on, so both are 0 (one copy per device, one
 * copy per run), as Nomad's NOMAD_ALLOC_INDEX is for system jobs.
 */
function allocIndex(spec: JobSpec, allocId: string): number {
  if (spec.type === 'system' || spec.type === 'periodic') return 0;
  return parseAllocId(allocId)?.slot ?? 0;
}
