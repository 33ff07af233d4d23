/**
 * `plan`: what this node must do to match the desired placement, as data (Nomad's reconciler results).
 * Only allocations on `self` are considered. A desired copy is started when this node has no live record of
 * it and kept when it has one; a live local copy nobody desires here is stopped. A desired copy whose local
 * record is terminal is neither started nor kept: restarting is the runtime's restart policy, and a copy
 * that gave up is replaced by placement under a new generation. Applying a plan and planning again yields
 * only keeps.
 */
import { isLive } from './reconcile.js';
import type { Desired, DesiredAlloc, Plan, SchedAllocation } from './types.js';

export function plan(desired: Desired, localActual: readonly SchedAllocation[], self: string): Plan {
  const local = new Map<string, SchedAllocation>();
  for (const a of localActual) if (a.node === self) local.set(a.allocId, a);
  const start: DesiredAlloc[] = [];
  const keep: DesiredAlloc[] = [];
  const wanted = new Set<string>();
  for (const d of desired.allocs) {
    if (d.node !== self) continue;
    wanted.add(d.allocId);
    const record = local.get(d.allocId);
    // An `unknown` copy on self only appears in a view computed elsewhere; it is kept, never started.
    if (record === undefined) {
      if (d.status === 'run') start.push(d);
    } else if (isLive(record.state)) {
      keep.push(d);
    }
  }
  const stop = [...local.values()]
    .filter((a) => isLive(a.state) && !wanted.has(a.allocId))
    .sort((a, b) => (a.allocId < b.allocId ? -1 : 1));
  return { start, stop, keep };
}
