import { canonicalJson } from '../../crdt/canonical-json.js';
import type { JobVersion, JobView } from '../../crdt/job-log.js';
import type { JobSpec } from '../../crdt/job-spec.js';
import { JobSpecs } from '../../crdt/job-specs.js';
import { compareText } from '../../lib/compare-text.js';
import {
  type Desired,
  type DesiredStatus,
  type Dimension,
  type PeriodicRun,
  type Plan,
  place,
  plan,
  type Rollout,
  type StopReason,
} from '../../scheduler/index.js';
import {
  type PeerLiveness,
  type PlacementInput,
  placementInput,
  type SkippedJob,
  type SpecReader,
  type StateViews,
} from './placement-input.js';

export interface PlacementServiceOptions {
  readonly self: string;
  readState(): StateViews;
  readLiveness(): readonly PeerLiveness[];
  now(): number;
  /** Default 100 ms. */
  readonly debounceMs?: number;
  /** A placement or a listener that throws is reported here; the service keeps its last good placement. */
  onError(error: unknown): void;
}

export type PlanListener = (plan: Plan) => void;

interface CopyRef {
  readonly allocId: string;
  readonly job: string;
  readonly node: string;
  /** The node record's name; the peer id when the node has no record in this replica. */
  readonly nodeName: string;
}

/** Why an `unknown` copy's slot gets no replacement here though its node is lost (`DesiredAlloc.notReplaced`). */
export const ISOLATED = 'this device hears no other device';

export interface StopExplanation extends CopyRef {
  readonly reason: StopReason;
}

/** One row of `meshctl alloc list`: a copy the placement wants running, cannot reach, or stops. */
export type AllocRow = CopyRef & { readonly jobVersion: number } & (
    | { readonly desired: DesiredStatus; readonly notReplaced?: string }
    | { readonly desired: 'stop'; readonly reason: StopReason }
  );

export interface CopyExplanation {
  readonly allocId: string;
  readonly slot: number;
  readonly generation: number;
  readonly jobVersion: number;
  readonly node: string;
  readonly nodeName: string;
  readonly status: DesiredStatus;
  /** The node's rank for this copy, in millionths. */
  readonly score: number;
  /** On an `unknown` copy whose slot is not replaced though its node is lost: why (`ISOLATED`). */
  readonly notReplaced?: string;
}

export interface UnplacedExplanation {
  readonly slot: number;
  readonly jobVersion: number;
  readonly nodesEvaluated: number;
  readonly nodesIneligible: number;
  readonly filtered: Readonly<Record<string, number>>;
  readonly exhausted: Readonly<Record<Dimension, number>>;
  /** The same, as lines for people: `cpu exhausted on 3 nodes`, Nomad's "dimension exhausted". */
  readonly reasons: readonly string[];
}

/**
 * `gone`: the replica no longer holds the job (purged) and its copies are being stopped. `unreadable`: this
 * agent cannot read the current spec, so it neither places nor stops the job's copies.
 */
export type JobPlacement = {
  readonly job: string;
  /** Time of the placement this explains. */
  readonly computedAt: number;
  readonly allocs: readonly CopyExplanation[];
  readonly stops: readonly StopExplanation[];
  readonly unplaced: readonly UnplacedExplanation[];
  /** The job's rollout as this agent derives it (every agent with the same statuses derives the same). */
  readonly rollout?: Rollout | undefined;
  /** A periodic job's current run as this agent derives it. */
  readonly run?: PeriodicRun | undefined;
} & (
  | { readonly status: 'running' | 'stopped'; readonly version: number; readonly count: number }
  | { readonly status: 'unreadable'; readonly version: number; readonly unreadable: string }
  | { readonly status: 'gone' }
);

interface Placement {
  readonly computedAt: number;
  readonly input: PlacementInput;
  readonly desired: Desired;
  readonly plan: Plan;
  readonly planKey: string;
}

const DEFAULT_DEBOUNCE_MS = 100;

/**
 * Holds the desired placement this agent computes from its replica and its liveness view, and this node's share
 * of it (the plan). State and liveness change in bursts (a partition heals, a batch of gossip lands), so a
 * request to recompute is coalesced: the first `schedule()` arms a timer and every request until it fires rides
 * along. The timer is not pushed back by later requests, so a steady trickle of changes cannot postpone
 * placement indefinitely: a change is reflected within `debounceMs` plus one placement.
 */
export class PlacementService {
  readonly #options: PlacementServiceOptions;
  readonly #debounceMs: number;
  readonly #listeners = new Set<PlanListener>();
  /** Job specs, validated once per content hash; what placement stops reading is forgotten at its next run. */
  readonly specs = new JobSpecs();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Wakes placement when time alone changes it (`Desired.revisitAt`); replaced by every placement. */
  #revisit: ReturnType<typeof setTimeout> | undefined;
  #latest: Placement | undefined;
  #closed = false;

  constructor(options: PlacementServiceOptions) {
    this.#options = options;
    this.#debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  }

  /** Asks for a recompute; requests within one debounce window cost one placement. */
  schedule(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      try {
        this.placeNow();
      } catch (error) {
        this.#report(error);
      }
    }, this.#debounceMs);
  }

  /** Recomputes at once (a pending request is served by it) and notifies listeners if the local plan changed. */
  placeNow(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const { self } = this.#options;
    const now = this.#options.now();
    const input = placementInput(
      this.#options.readState(),
      this.#options.readLiveness(),
      self,
      now,
      (version) => this.specs.read(version),
    );
    this.specs.forgetUnread();
    const desired = place(input.jobs, input.nodes, input.allocations, input.liveness, now);
    this.#armRevisit(desired.revisitAt, now);
    const local = plan(
      desired,
      input.allocations.filter((a) => a.node === self),
      self,
    );
    const planKey = planIdentity(local);
    const changed = this.#latest?.planKey !== planKey;
    this.#latest = { computedAt: now, input, desired, plan: local, planKey };
    if (!changed) return;
    for (const listener of [...this.#listeners]) {
      try {
        listener(local);
      } catch (error) {
        this.#report(error);
      }
    }
  }

  /** Undefined until the first placement. */
  desired(): Desired | undefined {
    return this.#latest?.desired;
  }

  localPlan(): Plan | undefined {
    return this.#latest?.plan;
  }

  /** Jobs the last placement left out because their spec could not be read. */
  skipped(): readonly SkippedJob[] {
    return this.#latest?.input.skipped ?? [];
  }

  /**
   * Called after a placement whose local plan differs from the previous one (the first plan always counts as
   * a change). Returns the unsubscribe function.
   */
  onPlan(listener: PlanListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every copy the last placement wants running, unreachable or stopped, sorted by job and alloc id. */
  allocs(job?: string): AllocRow[] {
    const p = this.#latest;
    if (p === undefined) return [];
    const names = nodeNames(p.input);
    // Stops are decided only about allocations in the input, so every one has a version here.
    const versions = new Map(p.input.allocations.map((a) => [a.allocId, a.jobVersion]));
    const rows: AllocRow[] = [
      ...p.desired.allocs.map((a) => ({
        allocId: a.allocId,
        job: a.job,
        jobVersion: a.jobVersion,
        node: a.node,
        nodeName: names(a.node),
        desired: a.status,
        ...notReplaced(a),
      })),
      ...p.desired.stops.map((s) => ({
        allocId: s.allocId,
        job: s.job,
        jobVersion: versions.get(s.allocId)!,
        node: s.node,
        nodeName: names(s.node),
        desired: 'stop' as const,
        reason: s.reason,
      })),
    ];
    return rows
      .filter((r) => job === undefined || r.job === job)
      .sort((a, b) => compareText(a.job, b.job) || compareText(a.allocId, b.allocId));
  }

  /** Where each copy of `job` goes and why slots stay empty; undefined when the last placement knows no such job. */
  explain(job: string): JobPlacement | undefined {
    const p = this.#latest;
    return p === undefined ? undefined : explainIn(p, job);
  }

  /**
   * `meshctl job plan`: where the copies of `spec` would go were it the job's current version `version`, wanted
   * running. The same pure placement over the same replica and liveness view; nothing is stored or started.
   */
  placeCandidate(spec: JobSpec, version: number): JobPlacement {
    const { self } = this.#options;
    const now = this.#options.now();
    const state = this.#options.readState();
    const before = state.jobs.find((j) => j.name === spec.name);
    const candidate: JobVersion = {
      version,
      specHash: CANDIDATE,
      spec: spec as unknown as JobVersion['spec'],
      submittedBy: self,
      submittedAt: now,
    };
    const view: JobView = {
      name: spec.name,
      desired: 'running',
      desiredSince: now,
      desiredBy: self,
      current: candidate,
      history: before ? [before.current, ...before.history] : [],
    };
    const jobs = [...state.jobs.filter((j) => j.name !== spec.name), view];
    const read: SpecReader = (v) =>
      v.specHash === CANDIDATE ? { ok: true, value: spec } : this.specs.read(v);
    const input = placementInput({ ...state, jobs }, this.#options.readLiveness(), self, now, read);
    const desired = place(input.jobs, input.nodes, input.allocations, input.liveness, now);
    // The candidate is in the input, readable: it is always explained.
    return explainIn({ computedAt: now, input, desired }, spec.name)!;
  }

  #armRevisit(at: number | undefined, now: number): void {
    clearTimeout(this.#revisit);
    this.#revisit = undefined;
    if (at === undefined || this.#closed) return;
    // Timers may fire a millisecond early; a placement a millisecond before `at` would change nothing.
    this.#revisit = setTimeout(() => this.schedule(), Math.max(0, at - now) + 1);
    this.#revisit.unref();
  }

  /** Cancels a pending placement; later requests are ignored. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#revisit);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
  }

  #report(error: unknown): void {
    this.#options.onError(error);
  }
}

/**
 * A plan's identity for change detection: what to start, stop and keep, without scores. A kept copy's score
 * moves whenever its node's load moves, and there is nothing for the node to do about that.
 */
function planIdentity(p: Plan): string {
  const ids = (items: readonly { allocId: string }[]) => items.map((i) => i.allocId).sort();
  return canonicalJson({ start: ids(p.start), stop: ids(p.stop), keep: ids(p.keep) });
}

function notReplaced(a: Desired['allocs'][number]): { notReplaced?: string } {
  return a.notReplaced === 'isolated' ? { notReplaced: ISOLATED } : {};
}

/** Where each copy of `job` goes in placement `p`, and why slots stay empty; undefined when `p` knows no such job. */
function explainIn(
  p: Pick<Placement, 'computedAt' | 'input' | 'desired'>,
  job: string,
): JobPlacement | undefined {
  const names = nodeNames(p.input);
  const allocs = p.desired.allocs
    .filter((a) => a.job === job)
    .map((a) => ({
      allocId: a.allocId,
      slot: a.slot,
      generation: a.generation,
      jobVersion: a.jobVersion,
      node: a.node,
      nodeName: names(a.node),
      status: a.status,
      score: a.score,
      ...notReplaced(a),
    }));
  const stops = p.desired.stops
    .filter((s) => s.job === job)
    .map((s) => ({
      allocId: s.allocId,
      job: s.job,
      node: s.node,
      nodeName: names(s.node),
      reason: s.reason,
    }));
  const unplaced = p.desired.unplaced
    .filter((u) => u.job === job)
    .map((u) => ({
      slot: u.slot,
      jobVersion: u.jobVersion,
      ...u.failure,
      reasons: failureLines(u.failure),
    }));
  const rollout = p.desired.rollouts.find((r) => r.job === job);
  const run = p.desired.runs?.find((r) => r.job === job);
  const common = {
    job,
    computedAt: p.computedAt,
    allocs,
    stops,
    unplaced,
    ...(rollout === undefined ? {} : { rollout }),
    ...(run === undefined ? {} : { run }),
  };
  const known = p.input.jobs.find((j) => j.name === job);
  if (known !== undefined)
    // A system job's count is its number of eligible devices, as its rollout counts them.
    return {
      ...common,
      version: known.version,
      status: known.status,
      count: rollout?.nodes?.length ?? known.count,
    };
  const skipped = p.input.skipped.find((s) => s.job === job);
  if (skipped !== undefined)
    return { ...common, version: skipped.version, status: 'unreadable', unreadable: skipped.reason };
  return allocs.length + stops.length > 0 ? { ...common, status: 'gone' } : undefined;
}

/** The spec hash of `placeCandidate`'s version: no stored version has it (stored hashes are hex). */
const CANDIDATE = 'candidate (not stored)';

function nodeNames(input: PlacementInput): (peerId: string) => string {
  const names = new Map(input.nodes.map((n) => [n.peerId, n.name]));
  return (peerId) => names.get(peerId) ?? peerId;
}

function failureLines(f: Desired['unplaced'][number]['failure']): string[] {
  const nodes = (n: number) => `${n} node${n === 1 ? '' : 's'}`;
  const lines = [`${nodes(f.nodesEvaluated)} evaluated`];
  if (f.nodesIneligible > 0) lines.push(`${nodes(f.nodesIneligible)} not eligible (not alive in this view)`);
  for (const [filter, n] of Object.entries(f.filtered)) lines.push(`${nodes(n)} filtered: ${filter}`);
  for (const [dimension, n] of Object.entries(f.exhausted))
    if (n > 0) lines.push(`${dimension} exhausted on ${nodes(n)}`);
  return lines;
}
