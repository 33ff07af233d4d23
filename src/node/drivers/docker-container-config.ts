/**
 * How a task becomes a Docker container: pure, so the mapping of limits, ports and labels is testable without
 * an engine. Labels carry everything needed to rebuild a handle after an agent restart, and the owner label
 * keeps agents that share an engine out of each other's containers.
 */
import type Docker from 'dockerode';
import { hardwareConfig } from './docker-hardware-config.js';
import type { DockerTaskSpec } from './driver.js';
import type { HostMount } from './host-mounts.js';

export const LABELS = {
  alloc: 'mycel.alloc',
  job: 'mycel.job',
  version: 'mycel.version',
  owner: 'mycel.owner',
} as const;

export function containerName(allocId: string): string {
  return `mycel-${allocId}`;
}

/** `mounts`: the task's volumes as prepared on this device (host-mounts.ts). */
export function containerConfig(
  task: DockerTaskSpec,
  owner: string,
  mounts: readonly HostMount[] = [],
): Docker.ContainerCreateOptions {
  const hardware = hardwareConfig(task, mounts);
  const bridge = task.network === 'bridge';
  const published = bridge ? task.ports : [];
  const portBindings: Record<string, { HostPort: string }[]> = {};
  for (const port of published) {
    const key = `${port.container}/${port.protocol}`;
    portBindings[key] = [...(portBindings[key] ?? []), { HostPort: String(port.host) }];
  }
  const cmd = task.command === undefined ? [...task.args] : [task.command, ...task.args];
  return {
    name: containerName(task.allocId),
    Image: task.image,
    ...(cmd.length > 0 ? { Cmd: cmd } : {}),
    ...(hardware.User === undefined ? {} : { User: hardware.User }),
    Env: Object.entries(task.env).map(([key, value]) => `${key}=${value}`),
    Labels: {
      [LABELS.alloc]: task.allocId,
      [LABELS.job]: task.job,
      [LABELS.version]: String(task.jobVersion),
      [LABELS.owner]: owner,
    },
    ...(published.length > 0
      ? { ExposedPorts: Object.fromEntries(Object.keys(portBindings).map((k) => [k, {}])) }
      : {}),
    HostConfig: {
      NanoCpus: task.resources.cpu * 1_000_000,
      Memory: task.resources.memory * 2 ** 20,
      // Restarts belong to the agent's policy, so they are seen and counted; Docker must not hide them.
      RestartPolicy: { Name: 'no' },
      NetworkMode: task.network,
      ...(published.length > 0 ? { PortBindings: portBindings } : {}),
      ...hardware.HostConfig,
    },
  };
}
