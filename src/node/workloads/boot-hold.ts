/**
 * What a device that has just booted may start, as a pure function of time (Nomad #24629, KubeEdge #6414).
 *
 * At boot the replica on disk is all this device knows. It says which copies this device ran: those it restarts
 * at once, peers or no peers. Anything else placement puts here may be another device's work that only looks
 * lost: a kill -9 or a power cut loses the statuses not yet flushed, and every peer not yet heard counts as
 * suspect, so this device is the one place left for slots that look empty. Those starts are held until this
 * agent has heard the mesh (finished a state sync with a peer: its replica then holds what that peer knows) or
 * one lost period has passed since start, whichever comes first.
 */
import type { Plan } from '../../scheduler/types.js';

export interface BootHoldInput {
  /** When this agent started (ms). */
  readonly startedAt: number;
  readonly lostAfterMs: number;
  /** When this agent first finished a state sync with a peer; undefined while it has heard nobody. */
  readonly meshHeardAt: number | undefined;
  readonly now: number;
}

export type BootHold =
  | { readonly holding: false }
  | { readonly holding: true /** When the hold ends at the latest. */; readonly until: number };

export function bootHold(input: BootHoldInput): BootHold {
  const until = input.startedAt + input.lostAfterMs;
  const heard = input.meshHeardAt !== undefined && input.meshHeardAt <= input.now;
  return heard || input.now >= until ? { holding: false } : { holding: true, until };
}

/**
 * `plan` as this device may apply it while the hold lasts: starts only of copies its replica says it ran
 * (`own`); stops and keeps pass, so its own copies run again and nothing of theirs is taken.
 */
export function heldPlan(plan: Plan, own: ReadonlySet<string>, hold: BootHold): Plan {
  if (!hold.holding) return plan;
  return { ...plan, start: plan.start.filter((d) => own.has(d.allocId)) };
}
