/** Builders for scheduler tests: small worlds written the way the replicated state holds them. */
import { parseAllocId } from '../../src/scheduler/alloc-id.js';
import type {
  AllocState,
  Desired,
  LivenessEntry,
  SchedAllocation,
  SchedJob,
  SchedNode,
  SchedUpdate,
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

/** `base` at `version`, every earlier version in its history with the same fields. */
export function versioned(base: SchedJob, version: number, promoted?: number[]): SchedJob {
  const history = Array.from({ length: version - 1 }, (_, i) => {
    const { name: _n, status: _s, ...fields } = { ...base, version: i + 1 };
    return fields;
  });
  return { ...base, version, history, ...(promoted === undefined ? {} : { promoted }) };
}

export const web = (version: number, count: number, update: SchedUpdate, promoted?: number[]): SchedJob =>
  versioned(job('web', { count, update, driver: 'exec' }), version, promoted);

export const slotOf = (a: { allocId: string }): number => parseAllocId(a.allocId)!.slot;

/** States of a copy that has not ended: the ones an owner still judges. */
export const LIVE: ReadonlySet<string> = new Set(['pending', 'starting', 'running']);

/** How copies end: judged healthy, or unhealthy and then failed or left running. */
export type Fate = 'healthy' | 'unhealthy-running' | 'unhealthy-failed';

/**
 * Applies one placement as nodes and owners would: stopped copies complete, fresh ones start running and
 * unjudged, and each live copy not yet judged (so started in an earlier step) gets the verdict its fate gives.
 * `quiet` when nothing stopped or started and every copy had been judged before this step.
 */
export function applyStep(
  actual: readonly SchedAllocation[],
  desired: Desired,
  now: number,
  fateOf: (a: SchedAllocation) => Fate,
): { actual: SchedAllocation[]; fresh: SchedAllocation[]; quiet: boolean } {
  const stopped = new Set(desired.stops.map((s) => s.allocId));
  const known = new Set(actual.map((a) => a.allocId));
  const fresh = desired.allocs
    .filter((a) => a.status === 'run' && !known.has(a.allocId))
    .map(
      (a): SchedAllocation => ({
        allocId: a.allocId,
        job: a.job,
        jobVersion: a.jobVersion,
        node: a.node,
        state: 'running',
        health: 'unknown',
        startedAt: now,
        restarts: 0,
      }),
    );
  const judgedBefore = actual.every((a) => a.verdict !== undefined || !LIVE.has(a.state));
  const next = [
    ...actual.map((a): SchedAllocation => {
      if (stopped.has(a.allocId)) return { ...a, state: 'complete' };
      if (a.verdict !== undefined || !LIVE.has(a.state)) return a;
      const fate = fateOf(a);
      if (fate === 'healthy') return { ...a, health: 'healthy', verdict: { healthy: true, at: now } };
      const verdict = { healthy: false, at: now, reason: 'check failed' };
      return fate === 'unhealthy-failed'
        ? { ...a, state: 'failed', verdict }
        : { ...a, health: 'unhealthy', verdict };
    }),
    ...fresh,
  ];
  return { actual: next, fresh, quiet: stopped.size === 0 && fresh.length === 0 && judgedBefore };
}
