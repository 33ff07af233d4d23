/** Builders for scheduler tests: small worlds written the way the replicated state holds them. */
import type {
  AllocState,
  Desired,
  LivenessEntry,
  SchedAllocation,
  SchedJob,
  SchedNode,
} from '../../src/scheduler/types.js';

export function node(peerId: string, over: Partial<SchedNode> = {}): SchedNode {
  return {
    peerId,
    name: peerId,
    labels: {},
    arch: 'amd64',
    os: 'linux',
    cpu: 4000,
    memory: 4096,
    reserved: { cpu: 0, memory: 0 },
    drivers: ['docker', 'exec'],
    ...over,
  };
}

export function job(name: string, over: Partial<SchedJob> = {}): SchedJob {
  return {
    name,
    version: 1,
    status: 'running',
    type: 'service',
    count: 1,
    driver: 'docker',
    resources: { cpu: 100, memory: 300 },
    ...over,
  };
}

export function alive(ids: readonly string[], lastSeen = 0): Map<string, LivenessEntry> {
  return new Map(ids.map((id) => [id, { status: 'alive', lastSeen }]));
}

/** The allocation statuses nodes would report after starting everything `desired` asks to run. */
export function started(desired: Desired, at = 0, state: AllocState = 'running'): SchedAllocation[] {
  return desired.allocs
    .filter((a) => a.status === 'run')
    .map((a) => ({
      allocId: a.allocId,
      job: a.job,
      jobVersion: a.jobVersion,
      node: a.node,
      state,
      health: 'healthy',
      startedAt: at,
      restarts: 0,
    }));
}

/** Actual state after a new placement is applied: statuses merged by alloc id, newer ones win. */
export function merge(...worlds: (readonly SchedAllocation[])[]): SchedAllocation[] {
  const byId = new Map<string, SchedAllocation>();
  for (const w of worlds) for (const a of w) byId.set(a.allocId, a);
  return [...byId.values()];
}

export function runOn(desired: Desired, peerId: string): string[] {
  return desired.allocs.filter((a) => a.node === peerId && a.status === 'run').map((a) => a.allocId);
}
