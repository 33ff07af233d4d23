/**
 * A task's storage and hardware as Docker container settings: pure, like docker-container-config.ts. Binds go
 * through `Mounts` (each field its own, so no path is parsed back out of a `src:dst:ro` string), devices through
 * `Devices` with their cgroup permissions.
 */
import type Docker from 'dockerode';
import { parseDevice } from '../../crdt/job-spec-storage.js';
import type { DockerTaskSpec } from './driver.js';
import type { HostMount } from './host-mounts.js';

export interface HardwareConfig {
  readonly User?: string;
  readonly HostConfig: Docker.HostConfig;
}

export function hardwareConfig(task: DockerTaskSpec, mounts: readonly HostMount[]): HardwareConfig {
  const devices = (task.devices ?? []).flatMap((text) => {
    const parsed = parseDevice(text);
    return parsed.ok
      ? [
          {
            PathOnHost: parsed.device.host,
            PathInContainer: parsed.device.container,
            CgroupPermissions: parsed.device.permissions,
          },
        ]
      : [];
  });
  const hostConfig: Docker.HostConfig = {
    ...(mounts.length > 0
      ? {
          Mounts: mounts.map((m) => ({
            Type: 'bind' as const,
            Source: m.source,
            Target: m.target,
            ReadOnly: m.readOnly,
          })),
        }
      : {}),
    ...(devices.length > 0 ? { Devices: devices } : {}),
    ...(task.privileged === true ? { Privileged: true } : {}),
    ...(task.capAdd?.length ? { CapAdd: [...task.capAdd] } : {}),
    ...(task.capDrop?.length ? { CapDrop: [...task.capDrop] } : {}),
    ...(task.groupAdd?.length ? { GroupAdd: [...task.groupAdd] } : {}),
  };
  return { ...(task.user === undefined ? {} : { User: task.user }), HostConfig: hostConfig };
}
