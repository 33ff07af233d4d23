/**
 * A job's status as an operator reads it, derived the way Nomad's `job status` does: from what the owners
 * reported about each copy and from this agent's placement, never from the job's desired state alone. Pure:
 * the same replica and placement give the same answer on every device.
 */
import { parseAllocId } from './alloc-id.js';
import { isLive } from './reconcile.js';
import { slotReader } from './system-slots.js';
import type { PeriodicRun, Rollout, SchedAllocation } from './types.js';

export type JobStatusName = 'running' | 'pending' | 'degraded' | 'failed' | 'complete' | 'stopped';

/** Copies of the target version, one per slot: the newest copy each slot has reported. */
export interface JobCopyCounts {
  readonly wanted: number;
  readonly running: number;
  /** Placed, or reported pending / starting, and not running yet. */
  readonly starting: number;
  readonly failed: number;
  readonly complete: number;
  /** Slots placement could not put on any node. */
  readonly unplaced: number;
  /** Slots whose copy is held back on purpose (`JobStatusInput.held`): not started, or not replaced. */
  readonly held?: number;
}

export interface JobStatus {
  readonly status: JobStatusName;
  /** Why the job is not simply running: one line for people. */
  readonly reason?: string | undefined;
  readonly copies: JobCopyCounts;
  /** `rolling out v3: 1/3`, `rolled back to v2: ...`, `v3 failed: ...`; absent when no rollout is under way. */
  readonly rollout?: string | undefined;
}

export interface JobStatusInput {
  readonly desired: 'running' | 'stopped';
  readonly type: 'service' | 'batch' | 'system' | 'periodic';
  /** The newest submitted version and its count (a system job's: its rollout's slots, one per device). */
  readonly version: number;
  readonly count: number;
  /** Reported statuses; other jobs' copies are ignored. */
  readonly allocations: readonly Reported[];
  /** Slots this agent's placement left empty, with its per-dimension reasons. */
  readonly unplaced: readonly { readonly slot: number; readonly reasons: readonly string[] }[];
  readonly rollout?: Rollout | undefined;
  /** Placement has not run on this agent yet: no copy can be called unplaceable. */
  readonly placementUnknown?: boolean;
  /**
   * Slots this agent holds back on purpose, with the reason for people: a copy on an unheard device that a
   * cut-off view does not replace, or a new copy not started during the agent's warm-up. Such a slot is neither
   * running nor starting, whatever its last report said.
   */
  readonly held?: readonly { readonly slot: number; readonly reason: string }[] | undefined;
  /** A periodic job's current run: its copies are the job's one slot; earlier runs are history. */
  readonly run?: PeriodicRun | undefined;
}

export type Reported = SchedAllocation & { readonly lastError?: string | undefined };

type SlotState = 'running' | 'starting' | 'failed' | 'complete' | 'unplaced' | 'held';

export function deriveJobStatus(name: string, input: JobStatusInput): JobStatus {
  const target = input.rollout?.target ?? input.version;
  const wanted = input.rollout?.counts.total ?? input.count;
  // A system job's slots are its eligible devices: its copies are matched to them by node.
  const slotOf = runSlot(input.run) ?? slotReader(name, input.rollout?.nodes);
  const newest = newestPerSlot(slotOf, target, input.type, input.allocations);
  const unplaced = new Map(input.unplaced.map((u) => [u.slot, u.reasons]));
  const held = new Map((input.held ?? []).map((h) => [h.slot, h.reason]));
  const slots: SlotState[] = [];
  // Mid-rollout a slot not yet moved still serves from its older copy: that copy speaks for the slot.
  const older = olderLiveCopies(slotOf, name, target, input.allocations);
  for (let slot = 0; slot < wanted; slot++) {
    if (held.has(slot)) {
      slots.push('held');
      continue;
    }
    const state = slotState(input.type, newest.get(slot) ?? older.get(slot), unplaced.has(slot));
    // Mid-surge the new copy still starts beside the old one, which serves the slot meanwhile.
    slots.push(state === 'starting' && older.get(slot)?.state === 'running' ? 'running' : state);
  }
  const n = (s: SlotState) => slots.filter((x) => x === s).length;
  const copies: { -readonly [K in keyof JobCopyCounts]: JobCopyCounts[K] } = {
    wanted,
    running: n('running'),
    starting: n('starting'),
    failed: n('failed'),
    complete: n('complete'),
    unplaced: n('unplaced'),
    ...(held.size > 0 ? { held: n('held') } : {}),
  };
  // Nothing rolls out while no copy of another version runs: a job never placed is pending, not rolling out.
  const olderLive = input.allocations.some(
    (a) => a.job === name && a.jobVersion !== target && isLive(a.state),
  );
  const rollout = rolloutLine(input.rollout, olderLive);
  const done = (status: JobStatusName, reason?: string): JobStatus => ({
    status,
    ...(reason === undefined ? {} : { reason }),
    copies,
    ...(rollout === undefined ? {} : { rollout }),
  });

  if (input.desired === 'stopped') {
    const live = [...newest.values()].filter((c) => isLive(c.state));
    // A stopped job's empty slots wait for nothing: only a copy that still reports starting is starting.
    copies.starting = live.filter((c) => c.state !== 'running').length;
    copies.unplaced = 0;
    const n = live.length;
    return done('stopped', n > 0 ? `${n} ${n === 1 ? 'copy' : 'copies'} still stopping` : undefined);
  }
  if (input.run !== undefined) {
    // A periodic job goes on after each run: between runs it is running, waiting for the next.
    const next = input.run.next === undefined ? 'no further run' : `next run ${iso(input.run.next)}`;
    if (input.run.at === undefined) return done('pending', `no run yet; ${next}`);
    const waits = input.run.held === undefined ? '' : ` waits (${input.run.held})`;
    if (copies.complete === wanted || waits !== '')
      return done('running', `run ${iso(input.run.at)}${waits || ' complete'}; ${next}`);
  } else if (finishes(input.type) && wanted > 0 && copies.complete === wanted) return done('complete');
  const problems: string[] = [];
  if (copies.failed > 0) problems.push(`${copies.failed} of ${wanted} failed${lastError(name, newest)}`);
  if (copies.unplaced > 0) problems.push(unplacedReason(copies.unplaced, wanted, input.unplaced));
  for (const [reason, n] of heldReasons(slots, held)) problems.push(`${n} of ${wanted} ${reason}`);
  if (input.rollout?.phase === 'failed' && input.rollout.failure !== undefined)
    problems.push(`version ${input.rollout.failure.version} failed: ${input.rollout.failure.reason}`);
  const reason = problems.length > 0 ? problems.join('; ') : undefined;
  const active = copies.running + copies.complete;

  if (reason !== undefined) {
    // A version that failed before any copy was judged healthy is failing, even while a replacement runs.
    const failing = input.rollout?.phase === 'failed' && input.rollout.counts.healthy === 0;
    if (copies.running > 0 && !failing) return done('degraded', reason);
    const failed = copies.failed > 0 || input.rollout?.phase === 'failed';
    return done(failed ? 'failed' : 'pending', reason);
  }
  if (active === wanted) return done('running');
  const starting = `${copies.starting} of ${wanted} starting`;
  if (copies.running > 0) return done('running', starting);
  return done('pending', input.placementUnknown ? 'not placed yet on this agent' : starting);
}

function slotState(type: JobStatusInput['type'], copy: Reported | undefined, unplaced: boolean): SlotState {
  // A failed copy whose slot was placed again is still reported here until its successor reports.
  if (copy === undefined) return unplaced ? 'unplaced' : 'starting';
  switch (copy.state) {
    case 'running':
      return copy.health === 'unhealthy' ? 'failed' : 'running';
    case 'complete':
      // Only a batch copy is done when it exits; a service copy that exited is being replaced.
      if (finishes(type)) return 'complete';
      return unplaced ? 'unplaced' : 'starting';
    case 'failed':
      return unplaced ? 'unplaced' : 'failed';
    case 'lost':
      return unplaced ? 'unplaced' : 'starting';
    default:
      return 'starting';
  }
}

/**
 * Older versions and earlier generations are history: only the newest copy of each slot of `target` counts. A
 * service copy that reports `complete` was stopped because it is no longer placed (after a partition both sides
 * ran the slot, and one copy, maybe the newer generation, stops): while another copy of the slot is live, that
 * one speaks for it.
 */
function newestPerSlot(
  slotOf: SlotOf,
  target: number,
  type: JobStatusInput['type'],
  allocations: readonly Reported[],
): Map<number, Reported & { generation: number }> {
  const stopped = (a: Reported) => !finishes(type) && a.state === 'complete';
  const live = newestOf(
    slotOf,
    target,
    allocations.filter((a) => !stopped(a)),
  );
  for (const [slot, copy] of newestOf(slotOf, target, allocations.filter(stopped)))
    if (!live.has(slot)) live.set(slot, copy);
  return live;
}

/** A copy's slot, undefined for other jobs' copies and ids this scheduler did not name. */
type SlotOf = (a: Reported) => number | undefined;

/** A periodic job's current run is slot 0; copies of other runs have none. */
function runSlot(run: PeriodicRun | undefined): SlotOf | undefined {
  if (run === undefined) return undefined;
  return (a) => (run.idSlot !== undefined && parseAllocId(a.allocId)?.slot === run.idSlot ? 0 : undefined);
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** Batch-like jobs are done when their copies exit; the others run until stopped. */
function finishes(type: JobStatusInput['type']): boolean {
  return type === 'batch' || type === 'periodic';
}

function newestOf(
  slotOf: SlotOf,
  target: number,
  allocations: readonly Reported[],
): Map<number, Reported & { generation: number }> {
  const out = new Map<number, Reported & { generation: number }>();
  for (const a of allocations) {
    if (a.jobVersion !== target) continue;
    const slot = slotOf(a);
    const key = slot === undefined ? undefined : parseAllocId(a.allocId);
    if (slot === undefined || key === undefined) continue;
    const seen = out.get(slot);
    if (
      seen === undefined ||
      key.generation > seen.generation ||
      (key.generation === seen.generation && a.startedAt > seen.startedAt)
    )
      out.set(slot, { ...a, generation: key.generation });
  }
  return out;
}

function olderLiveCopies(
  slotOf: SlotOf,
  job: string,
  target: number,
  allocations: readonly Reported[],
): Map<number, Reported> {
  const out = new Map<number, Reported>();
  for (const a of allocations) {
    if (a.job !== job || a.jobVersion === target || !isLive(a.state)) continue;
    const slot = slotOf(a);
    if (slot === undefined) continue;
    const seen = out.get(slot);
    // A running copy speaks for the slot before one still starting.
    if (seen === undefined || (a.state === 'running' && seen.state !== 'running')) out.set(slot, a);
  }
  return out;
}

function lastError(job: string, newest: ReadonlyMap<number, Reported>): string {
  for (const a of [...newest.values()].sort((x, y) => (x.allocId < y.allocId ? -1 : 1)))
    if (a.job === job && a.state === 'failed' && a.lastError !== undefined)
      return ` (${firstLine(a.lastError)})`;
  return '';
}

/** A driver's error can run to kilobytes; a status line carries its first line, shortened. */
function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

/** Held slots counted per reason, in slot order of each reason's first slot. */
function heldReasons(slots: readonly SlotState[], held: ReadonlyMap<number, string>): Map<string, number> {
  const out = new Map<string, number>();
  slots.forEach((state, slot) => {
    const reason = held.get(slot);
    if (state === 'held' && reason !== undefined) out.set(reason, (out.get(reason) ?? 0) + 1);
  });
  return out;
}

function unplacedReason(n: number, wanted: number, unplaced: JobStatusInput['unplaced']): string {
  // Every slot meets the same nodes, so the first slot's reasons speak for the rest.
  const reasons = unplaced[0]?.reasons.filter((r) => !r.endsWith(' evaluated')) ?? [];
  return `${n} of ${wanted} cannot be placed${reasons.length > 0 ? `: ${reasons.join(', ')}` : ''}`;
}

function rolloutLine(r: Rollout | undefined, olderLive: boolean): string | undefined {
  if (r === undefined) return undefined;
  const progress = `${r.counts.healthy}/${r.counts.total}`;
  const wave = r.wave === undefined ? '' : ` in wave ${r.wave.index}/${r.wave.total}`;
  switch (r.phase) {
    case 'complete': {
      // Complete without being stable: the failures its waves tolerated stay on the version before (rollout.ts).
      const kept = r.wave?.tolerated ?? [];
      if (kept.length === 0) return undefined;
      const slots =
        kept.length === 1
          ? `1 failure tolerated: slot ${kept[0]} stays`
          : `${kept.length} failures tolerated: slots ${kept.join(', ')} stay`;
      return `v${r.latest} rolled out with ${slots} on the version before`;
    }
    case 'reverted':
      return `rolled back to v${r.target}: v${r.failure?.version ?? r.latest} failed${wave}: ${r.failure?.reason ?? 'judged unhealthy'}`;
    case 'failed':
      return `v${r.latest} failed${wave}: ${r.failure?.reason ?? 'judged unhealthy'}`;
    case 'paused': {
      if (r.latest === 1 || !olderLive) return undefined;
      const first =
        r.wave === undefined ? `canary ${r.canary}` : `wave 1/${r.wave.total} (${r.wave.percent}%)`;
      return `v${r.target} awaiting promotion after ${first}: ${progress} healthy (meshctl job promote ${r.job})`;
    }
    // A first version is no rollout: nothing older runs beside it.
    case 'canary':
      if (r.latest === 1 || !olderLive) return undefined;
      return `rolling out v${r.target}: canary ${progress}`;
    default: {
      if (r.latest === 1 || !olderLive) return undefined;
      if (r.wave === undefined) return `rolling out v${r.target}: ${progress}`;
      const waiting = r.counts.pending > 0 ? `, ${r.counts.pending} waiting for health` : '';
      return `rolling out v${r.target}: wave ${r.wave.index}/${r.wave.total}: ${r.wave.percent}% (${r.wave.slots} of ${r.counts.total}) may run v${r.target}, ${progress} healthy${waiting}`;
    }
  }
}
