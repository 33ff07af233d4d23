/**
 * A periodic job launches a batch run at every time its cron schedule names, in its time zone. There is no
 * leader and no timer in here: every agent computes, from the spec and the `now` it is given, which run is
 * current (the latest scheduled time at or before `now`), and that run is one batch slot. Its copy is placed
 * like any other (rank-based, deterministic), with an id derived from (job, version, run, generation, node),
 * so agents that agree on the inputs agree on the one device that launches it, and the replicated state
 * dedups by id. A copy that completed marks the run done; a failed one is replaced as a batch copy is, while
 * the run is current.
 *
 * - Runs missed while the whole fleet was down: only the latest launches, once someone is up; no burst.
 * - Runs scheduled before the current version was submitted (`since`) never launch.
 * - `prohibitOverlap`: the current run waits while an earlier run still has a live copy on a device this view
 *   hears; if the next scheduled time comes first, the waiting run is skipped (only the latest is ever launched).
 *   A copy on a device not heard (lost, cut off) cannot be seen to end and holds nothing back.
 * - A run keeps the version it was launched with: a new version changes later runs only.
 * - Partitions: a view that hears no other device (of several known) launches nothing unless the job's
 *   `disconnect.whenIsolated` is `replace`, so a device cut off alone does not launch the fleet's runs. Two
 *   sides that each still hear someone both launch the run (each places it among the nodes it hears). When
 *   they meet again, a run still live on both sides keeps one copy (`reconcile`, the other stops as
 *   `duplicate`); a run that finished on both sides has run twice, and both records stay. Nothing relaunches.
 * - Clocks: an agent whose clock is ahead places the run early on the device the ranking picks; that device
 *   starts it when its own clock reaches the run (it places with its own `now`), so skew delays, never doubles.
 *
 * Slot numbers in ids: a run's slot is its scheduled time in whole seconds modulo 10^9 (wraps every 31.7
 * years, far beyond any run that is still live). Within an evaluation the current run is slot 0 and earlier
 * runs that are still live follow, so placement keeps them running and never replaces them.
 */
import { cronSchedule } from '../lib/cron.js';
import { parseAllocId } from './alloc-id.js';
import { isLive } from './reconcile.js';
import type { SlotLayout } from './slot-layout.js';
import type { PeriodicRun, SchedAllocation, SchedJob } from './types.js';

const WRAP = 1_000_000_000;

/** The slot number a run scheduled at `at` (ms) carries in its copies' ids. */
export function runIdSlot(at: number): number {
  return Math.floor(at / 1000) % WRAP;
}

class RunSlots implements SlotLayout {
  readonly #idSlots: readonly number[];
  /** Slot 0 is the current run and may launch now. */
  readonly #launch: boolean;

  /** `current` undefined: no run is due yet; the slots are the earlier runs still live, if any. */
  constructor(current: number | undefined, earlier: readonly number[], launch: boolean) {
    this.#idSlots = current === undefined ? earlier : [current, ...earlier];
    this.#launch = launch && current !== undefined;
  }

  get size(): number {
    return this.#idSlots.length;
  }

  slotOf(_record: SchedAllocation, idSlot: number): number | undefined {
    const i = this.#idSlots.indexOf(idSlot);
    return i < 0 ? undefined : i;
  }

  idSlot(slot: number): number {
    return this.#idSlots[slot]!;
  }

  pinned(): undefined {
    return undefined;
  }

  /** Only the current run may launch, and only when nothing holds it; earlier runs are never replaced. */
  holds(slot: number): boolean {
    return slot > 0 || !this.#launch;
  }
}

export function periodicRun(
  job: SchedJob,
  now: number,
  copies: readonly SchedAllocation[],
  isolated: boolean,
  heard: (node: string) => boolean = () => true,
): { run: PeriodicRun; slots: SlotLayout } {
  const periodic = job.periodic;
  const schedule = periodic && cronSchedule(periodic.schedule, periodic.timeZone);
  const latest = schedule?.latest(now);
  const at = latest !== undefined && latest >= (periodic?.since ?? 0) ? latest : undefined;
  const current = at === undefined ? undefined : runIdSlot(at);
  // A copy of a version of another type (the job was a service before) is no run: it would hold every run back
  // as an overlap and never stop. It gets no slot, so it stops. A version not in the history counts as a run.
  const otherTypes = new Set((job.history ?? []).filter((v) => v.type !== 'periodic').map((v) => v.version));
  const earlier = new Set<number>();
  // A run still going on a device this view does not hear (lost, cut off) keeps its slot, but holds no later run
  // back: nobody here can see it end, and every run would wait for it until that device is heard again.
  const overlapping = new Set<number>();
  for (const c of copies) {
    const key = parseAllocId(c.allocId);
    if (
      key !== undefined &&
      key.job === job.name &&
      key.slot !== current &&
      isLive(c.state) &&
      !otherTypes.has(c.jobVersion)
    ) {
      earlier.add(key.slot);
      if (heard(c.node)) overlapping.add(key.slot);
    }
  }
  const held =
    schedule === undefined
      ? ('invalid' as const)
      : periodic!.prohibitOverlap && overlapping.size > 0
        ? ('overlap' as const)
        : isolated && job.disconnect?.whenIsolated !== 'replace'
          ? ('isolated' as const)
          : undefined;
  const next = schedule?.next(now);
  const run: PeriodicRun = {
    job: job.name,
    ...(at === undefined ? {} : { at, idSlot: current }),
    ...(next === undefined ? {} : { next }),
    ...(held === undefined || at === undefined ? {} : { held }),
  };
  const slots = new RunSlots(
    current,
    [...earlier].sort((a, b) => a - b),
    held === undefined,
  );
  return { run, slots };
}

/**
 * The statuses of this node's finished runs it may remove from the replicated state: every run leaves one, and
 * a schedule every few seconds would grow the node's document without bound. Kept: the `keep` newest finished
 * runs of each periodic job (history for `alloc list`; and a margin for a peer whose clock is behind, which
 * could still take an older run for the current one and, not finding its status, launch it again), the current
 * run's, and anything live.
 */
export function expiredRuns(
  runs: readonly PeriodicRun[],
  own: readonly SchedAllocation[],
  keep: number,
): string[] {
  const current = new Map(runs.map((r) => [r.job, r.idSlot]));
  const finished = new Map<string, SchedAllocation[]>();
  for (const a of own) {
    const key = parseAllocId(a.allocId);
    if (key === undefined || key.job !== a.job || !current.has(a.job) || isLive(a.state)) continue;
    if (key.slot === current.get(a.job)) continue;
    finished.set(a.job, [...(finished.get(a.job) ?? []), a]);
  }
  const out: string[] = [];
  for (const list of finished.values()) {
    list.sort((x, y) => y.startedAt - x.startedAt || (x.allocId < y.allocId ? -1 : 1));
    out.push(...list.slice(keep).map((a) => a.allocId));
  }
  return out.sort();
}
