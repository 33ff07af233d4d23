/**
 * The scheduler's own narrow view of the replicated state: only the fields placement reads, named as in
 * docs/contracts.md, so a full JobSpec, node record or allocation status is structurally assignable.
 * Sizes: cpu in millicores, memory in MB. Times and durations in milliseconds.
 */

export type Driver = 'docker' | 'exec';

export type ConstraintOperator = '=' | '!=' | 'in' | 'not_in';

/** `attribute` is one of arch, os, name, driver or label.<key>. */
export interface SchedConstraint {
  readonly attribute: string;
  readonly operator: ConstraintOperator;
  readonly value: string | readonly string[];
}

export interface SchedAffinity extends SchedConstraint {
  /** -100..100, non-zero. */
  readonly weight: number;
}

export type ReconcileMode = 'best_score' | 'keep_original' | 'keep_replacement' | 'longest_running';

export interface SchedDisconnect {
  /** How long after a node was last heard from its allocations are replaced; 0 = as soon as it is lost. */
  readonly lostAfter: number;
  readonly replace: boolean;
  readonly reconcile: ReconcileMode;
}

export interface SchedUpdate {
  /** How many slots may move to a new job version at once; the rest keep the old version meanwhile. */
  readonly maxParallel: number;
  /** A new copy counts as settled once it has run this long without turning unhealthy. */
  readonly minHealthyTime: number;
}

export interface SchedPort {
  /** A host port is node-exclusive: with host networking the task binds it, with bridge it is published. */
  readonly host?: number | undefined;
  readonly protocol?: 'tcp' | 'udp' | undefined;
}

export interface SchedJob {
  readonly name: string;
  readonly version: number;
  readonly status: 'running' | 'stopped';
  readonly type: 'service' | 'batch';
  readonly count: number;
  readonly driver: Driver;
  readonly resources: { readonly cpu: number; readonly memory: number };
  readonly constraints?: readonly SchedConstraint[] | undefined;
  readonly affinities?: readonly SchedAffinity[] | undefined;
  readonly scheduling?: { readonly algorithm: 'binpack' | 'spread' } | undefined;
  readonly ports?: readonly SchedPort[] | undefined;
  /** Absent: Nomad's defaults (replace immediately once lost, best_score). */
  readonly disconnect?: SchedDisconnect | undefined;
  /** Absent: every outdated slot moves to the new version at once. */
  readonly update?: SchedUpdate | undefined;
}

export interface SchedNode {
  readonly peerId: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly arch: string;
  readonly os: string;
  readonly cpu: number;
  readonly memory: number;
  readonly reserved: { readonly cpu: number; readonly memory: number };
  readonly drivers: readonly Driver[];
}

export type AllocState = 'pending' | 'starting' | 'running' | 'failed' | 'complete' | 'lost';
export type AllocHealth = 'unknown' | 'healthy' | 'unhealthy';

/** What a node reports about an allocation it runs (the "actual" world). */
export interface SchedAllocation {
  readonly allocId: string;
  readonly job: string;
  readonly jobVersion: number;
  readonly node: string;
  readonly state: AllocState;
  readonly health: AllocHealth;
  readonly startedAt: number;
  readonly restarts: number;
}

export interface LivenessEntry {
  readonly status: 'alive' | 'suspect' | 'lost';
  readonly lastSeen: number;
}

/** A node absent from the view is lost and was never heard from. */
export type LivenessView = ReadonlyMap<string, LivenessEntry> | Readonly<Record<string, LivenessEntry>>;

/**
 * `run`: this copy should run on `node`. `unknown`: `node` cannot be heard from; the copy is left running
 * there and is not controlled until the node is heard again.
 */
export type DesiredStatus = 'run' | 'unknown';

export interface DesiredAlloc {
  readonly allocId: string;
  readonly job: string;
  readonly jobVersion: number;
  readonly slot: number;
  /** 0 for a slot's first copy; each replacement of the slot takes the highest generation seen plus one. */
  readonly generation: number;
  readonly node: string;
  readonly status: DesiredStatus;
  /** Normalised rank of the node for this copy, in millionths (integers compare exactly on every device). */
  readonly score: number;
}

export type StopReason =
  | 'job-stopped' // the job's desired status is stopped
  | 'orphaned' // the job no longer exists, or the alloc id is not one this scheduler names
  | 'scaled-down' // its slot is at or above the job's count
  | 'duplicate' // another copy of its slot survived reconciliation
  | 'updated' // its slot moves to a newer job version
  | 'evicted'; // its node no longer has room for everything it runs

export interface StopDecision {
  readonly allocId: string;
  readonly job: string;
  readonly node: string;
  readonly reason: StopReason;
}

export type Dimension = 'cpu' | 'memory' | 'ports';

/** Why a slot has no copy: every known node accounted for exactly once, Nomad's AllocMetric in small. */
export interface PlacementFailure {
  readonly nodesEvaluated: number;
  /** Nodes that are not alive in this view, or not eligible for new work. */
  readonly nodesIneligible: number;
  /** Static filters: `driver`, `arch` or the constraint that failed, rendered as text, and how many nodes. */
  readonly filtered: Readonly<Record<string, number>>;
  /** Feasible nodes without room, by the first dimension that ran out. */
  readonly exhausted: Readonly<Record<Dimension, number>>;
}

export interface Unplaced {
  readonly job: string;
  readonly jobVersion: number;
  readonly slot: number;
  readonly failure: PlacementFailure;
}

export interface Desired {
  readonly allocs: readonly DesiredAlloc[];
  readonly stops: readonly StopDecision[];
  readonly unplaced: readonly Unplaced[];
}

export interface Plan {
  readonly start: readonly DesiredAlloc[];
  readonly stop: readonly SchedAllocation[];
  readonly keep: readonly DesiredAlloc[];
}
