/**
 * A slot whose copy of the newest version was judged unhealthy within its wave's failure budget
 * (`Rollout.wave.tolerated`, waves.ts) is settled for the rest of the rollout: it stays on its old version until a
 * newer version is submitted. `movesNow` never moves it again, and here its live copies of the target that were
 * judged unhealthy give way to the slot's live copy of another version, which serves alone: a copy that keeps
 * failing would otherwise run (or be relaunched) beside the old one for as long as the version is the newest.
 * With no old copy left that this view can hear, the unhealthy copy stays: a running copy is better than an empty
 * slot refilled with the version that failed there (an old copy on a lost node would be replaced by the target).
 */
import { isLive } from './reconcile.js';
import type { Copy } from './slot-work.js';
import type { Rollout } from './types.js';

/** The slots a rollout has settled on their old version; empty unless it is running or complete with waves. */
export function toleratedSlots(rollout: Rollout | undefined): ReadonlySet<number> {
  if (rollout === undefined || (rollout.phase !== 'running' && rollout.phase !== 'complete')) return NONE;
  const tolerated = rollout.wave?.tolerated;
  return tolerated === undefined || tolerated.length === 0 ? NONE : new Set(tolerated);
}

const NONE: ReadonlySet<number> = new Set();

/** The copies of a tolerated slot that stop as duplicates of the old copy kept in their place. */
export function toleratedLosers(target: number, copies: readonly Copy[]): Copy[] {
  const live = copies.filter((c) => isLive(c.state));
  if (!live.some((c) => c.jobVersion !== target && c.heard.condition !== 'disconnected')) return [];
  return live.filter((c) => c.jobVersion === target && c.record.verdict?.healthy === false);
}
