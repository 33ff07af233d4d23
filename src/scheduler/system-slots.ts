/**
 * A system job (Nomad's `type = "system"`, a Kubernetes DaemonSet) runs one copy on every eligible device.
 * Its slots are devices, not numbers: placement gives it one slot per eligible node and pins each slot's copy to
 * its node, so
 *  - a node that joins (or becomes eligible) gets a slot, and with it a copy; no other copy moves;
 *  - a node that leaves keeps its slot only while this view still holds a live copy there (unknown, never
 *    replaced, since no other node may run that node's copy); once the copy is gone so is the slot;
 *  - a copy on a node that is heard but no longer eligible (a constraint or driver changed) stops;
 *  - the rollout machinery (canaries, `maxParallel`, surge, verdicts) runs over these slots unchanged.
 * Slot `i` is the `i`-th such node in peer-id order for this evaluation only: copies are matched to slots by
 * their node, never by the slot number in their alloc id, so a node joining before others in that order
 * renumbers slots without moving or renaming any copy.
 */
import { parseAllocId } from './alloc-id.js';
import { staticFilter } from './feasibility.js';
import type { NodeInfo, NodeTable } from './node-table.js';
import { isLive } from './reconcile.js';
import type { SlotLayout } from './slot-layout.js';
import type { SchedAllocation, SchedJob } from './types.js';

/**
 * The nodes that hold a slot of `job`: statically eligible (driver, constraints) and either heard (ready or
 * suspect) or still running a live copy of the job that this view cannot see stop. Sorted by peer id.
 */
export function systemSlotNodes(
  job: SchedJob,
  table: NodeTable,
  copies: readonly SchedAllocation[],
): readonly NodeInfo[] {
  const running = new Set<string>();
  for (const a of copies) if (a.job === job.name && isLive(a.state)) running.add(a.node);
  return table.nodes.filter(
    (info) =>
      staticFilter(job, info.node) === undefined &&
      (info.condition !== 'disconnected' || running.has(info.node.peerId)),
  );
}

/** A system job's slots for one evaluation: slot i is on node `nodes[i]` (node-table indices). */
export class SystemSlots implements SlotLayout {
  readonly #bySlot: readonly number[];
  readonly #byNode: ReadonlyMap<string, number>;

  constructor(nodes: readonly NodeInfo[]) {
    this.#bySlot = nodes.map((info) => info.index);
    this.#byNode = new Map(nodes.map((info, slot) => [info.node.peerId, slot]));
  }

  get size(): number {
    return this.#bySlot.length;
  }

  /** By node: undefined when the copy's node holds no slot (no longer eligible). */
  slotOf(record: SchedAllocation): number | undefined {
    return this.#byNode.get(record.node);
  }

  /** The number in a new copy's id is only informative: copies are matched to slots by node. */
  idSlot(slot: number): number {
    return slot;
  }

  pinned(slot: number): number | undefined {
    return this.#bySlot[slot];
  }

  /** Only its own node may run a slot's copy: while that one takes no new work, nobody does. */
  holds(slot: number, table: NodeTable): boolean {
    return table.nodes[this.#bySlot[slot]!]!.condition !== 'ready';
  }
}

/** The job with one slot per node: its versions' counts are the number of slots, for rollout and status. */
export function withSlots(job: SchedJob, slots: number): SchedJob {
  return { ...job, count: slots, history: job.history?.map((v) => ({ ...v, count: slots })) };
}

/** A copy's slot: by node for system jobs (`nodes` in slot order), else the slot in its alloc id. */
export function slotReader(
  job: string,
  nodes: readonly string[] | undefined,
): (record: SchedAllocation) => number | undefined {
  const byNode = nodes === undefined ? undefined : new Map(nodes.map((n, i) => [n, i]));
  return (record) => {
    const key = parseAllocId(record.allocId);
    if (key === undefined || key.job !== job) return undefined;
    return byNode === undefined ? key.slot : byNode.get(record.node);
  };
}
