/**
 * Which slot layout a running job has this evaluation (slot-layout.ts): none for services and batch jobs. Placement
 * keeps them by job name (system and periodic jobs' slots).
 */
import type { NodeTable } from './node-table.js';
import { periodicRun } from './periodic-runs.js';
import type { SlotLayout } from './slot-layout.js';
import { SystemSlots, systemSlotNodes, withSlots } from './system-slots.js';
import type { PeriodicRun, SchedAllocation, SchedJob } from './types.js';

export interface JobLayout {
  /** The job with `count` set to its number of slots. */
  readonly job: SchedJob;
  readonly layout?: SlotLayout;
  /** A system job's slot nodes (peer ids), for its rollout. */
  readonly nodes?: readonly string[];
  /** A periodic job's current run. Such a job has no rollout: a run keeps the version it was launched with. */
  readonly run?: PeriodicRun;
}

/** `copies`: the job's allocations. */
export function jobLayout(
  job: SchedJob,
  table: NodeTable,
  copies: readonly SchedAllocation[],
  now: number,
): JobLayout {
  if (job.type === 'periodic') {
    const heard = (node: string) => table.heard(node).condition !== 'disconnected';
    const { run, slots } = periodicRun(job, now, copies, table.isolated, heard);
    return { job: { ...job, count: slots.size }, layout: slots, run };
  }
  if (job.type !== 'system') return { job };
  const infos = systemSlotNodes(job, table, copies);
  return {
    job: withSlots(job, infos.length),
    layout: new SystemSlots(infos),
    nodes: infos.map((info) => info.node.peerId),
  };
}
