/**
 * Jobs whose slots are not simply `0..count-1`: a system job's slots are its eligible nodes (system-slots.ts),
 * a periodic job's are its runs (periodic-runs.ts). Placement asks the layout which slot a copy belongs to and
 * what a slot needs, and otherwise treats these slots like any other.
 */
import type { NodeTable } from './node-table.js';
import type { SchedAllocation } from './types.js';

export interface SlotLayout {
  /** How many slots there are in this evaluation. */
  readonly size: number;
  /** A copy's slot, from its record and the slot number in its id; undefined when it has none (it stops). */
  slotOf(record: SchedAllocation, idSlot: number): number | undefined;
  /** The slot number a new copy of `slot` carries in its id. */
  idSlot(slot: number): number;
  /** The node-table index a slot's copy must run on, if the slot is pinned to one. */
  pinned(slot: number): number | undefined;
  /** The slot takes no new copy now: its node takes no new work, or the run must not launch yet. */
  holds(slot: number, table: NodeTable): boolean;
}
