import type { NodeRecord } from '../../crdt/records.js';
import { VERSION } from '../../version.js';
import type { DriverName } from '../drivers/driver.js';
import type { AgentConfig } from '../setup/config.js';

/** What this node offers placement, as its replicated record says it: pure, the caller reads the machine. */
export interface Capacity {
  readonly cpu: number;
  readonly memory: number;
}

/** Reserved for the OS and the agent: 10 % of the cpu, and 128 MB or 10 % of the memory, whichever is smaller. */
export function reservedFor(capacity: Capacity): Capacity {
  return { cpu: Math.floor(capacity.cpu / 10), memory: Math.min(128, Math.floor(capacity.memory / 10)) };
}

export function localNodeRecord(init: {
  peerId: string;
  config: Pick<AgentConfig, 'name' | 'labels'> & { allowHostPath?: readonly string[] };
  /** Device paths present here (setup/devices.ts). */
  devices?: readonly string[] | undefined;
  capacity: Capacity;
  drivers: readonly DriverName[];
  addresses: readonly string[];
  arch: string;
  os: string;
  trustRoot?: string | undefined;
  leaving?: number | undefined;
  sealKey?: string | undefined;
}): NodeRecord {
  return {
    ...(init.sealKey === undefined ? {} : { sealKey: init.sealKey }),
    ...(init.trustRoot === undefined ? {} : { trustRoot: init.trustRoot }),
    ...(init.leaving === undefined ? {} : { leaving: init.leaving }),
    // Absent when empty: the record of a node without either stays as older agents wrote it.
    ...(init.devices?.length ? { devices: [...init.devices].sort() } : {}),
    ...(init.config.allowHostPath?.length ? { hostPaths: [...init.config.allowHostPath].sort() } : {}),
    peerId: init.peerId,
    name: init.config.name,
    labels: { ...init.config.labels },
    arch: init.arch,
    os: init.os,
    cpu: init.capacity.cpu,
    memory: init.capacity.memory,
    reserved: reservedFor(init.capacity),
    drivers: [...init.drivers].sort(),
    agentVersion: VERSION,
    addresses: [...init.addresses].sort(),
  };
}
