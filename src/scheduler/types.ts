/**
 * The scheduler's own narrow view of the replicated state: only the fields placement reads, named as in
 * docs/contracts.md, so a full JobSpec, node record or allocation status is structurally assignable.
 * Sizes: cpu in millicores, memory in MB. Times and durations in milliseconds.
 */

export type Driver = 'docker' | 'exec';

export type ConstraintOperator = '=' | '!=' | 'in' | 'not_in';

/** `attribute` is one of arch, os, name, driver, label.<key> or device./dev/<name> (value "true" when present). */
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
  /**
   * A view that hears no other device (of several known) is cut off itself, far more often than every other
   * device is gone at once: `wait` (absent: the default) replaces nothing from there; `replace` replaces as if
   * it heard the fleet, for a two-device site whose survivor must take over (both sides run the copy while cut
   * off; once they hear each other again `reconcile` keeps exactly `count`).
   */
  readonly whenIsolated?: 'wait' | 'replace' | undefined;
}

/**
 * How a new version rolls out (see rollout.ts). `minHealthyTime` and `healthyDeadline` are not here: the node
 * that runs a copy judges them with its own clock and records the outcome as the copy's `verdict`.
 */
export interface SchedUpdate {
  /** How many slots may move to a new job version at once; the rest keep the old version meanwhile. */
  readonly maxParallel: number;
  /** The first `canary` slots move first, together, and must all be healthy before any other moves. 0 = none. */
  readonly canary?: number | undefined;
  /** A version whose new copy turns out unhealthy is replaced by the newest earlier version that was stable. */
  readonly autoRevert?: boolean | undefined;
  /**
   * Cumulative percentages of slots on the new version, increasing and ending at 100 (waves.ts). A failed wave
   * reverts like autoRevert. Absent: no waves.
   */
  readonly waves?: readonly number[] | undefined;
  /** With waves: the share of a wave's slots that may be judged unhealthy before it fails. Absent: 0. */
  readonly maxFailureRatio?: number | undefined;
  /** false: the rollout pauses once its first wave (or canaries) is healthy until the version is promoted. */
  readonly autoPromote?: boolean | undefined;
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
  /** A system job has one slot per eligible node (system-slots.ts); its `count` is not read. */
  readonly type: 'service' | 'batch' | 'system' | 'periodic';
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
  /** What is absent takes the defaults for the job's type (reschedule.ts). */
  readonly reschedule?: Partial<SchedReschedule> | undefined;
  /** A periodic job's schedule (periodic-runs.ts); absent for other types. */
  readonly periodic?: SchedPeriodic | undefined;
  /**
   * Earlier submitted versions (any order): what autoRevert may fall back to, and the `count` that tells
   * when one of them was stable. Absent: nothing to revert to.
   */
  readonly history?: readonly SchedJobVersion[] | undefined;
  /** Device paths a node must have (its record's `devices`). Absent: none. */
  readonly devices?: readonly string[] | undefined;
  /** Host paths the job mounts, each under a prefix the node allows (its record's `hostPaths`). Absent: none. */
  readonly hostPaths?: readonly string[] | undefined;
  /** Versions an operator promoted (`meshctl job promote`, the job log): their paused rollouts go on. */
  readonly promoted?: readonly number[] | undefined;
}

export interface SchedPeriodic {
  /** A cron expression, 5 or 6 fields (seconds first), already validated with the spec. */
  readonly schedule: string;
  /** IANA time zone the schedule is read in. */
  readonly timeZone: string;
  /** A run does not launch while an earlier run still has a live copy. */
  readonly prohibitOverlap: boolean;
  /** When the current version was submitted (ms): runs scheduled before it never launch. */
  readonly since: number;
}

/** A periodic job's run as this evaluation sees it, for status and for the agent's next wake-up. */
export interface PeriodicRun {
  readonly job: string;
  /** The current run: the latest scheduled time at or before `now` and not before `since`. Absent: none yet. */
  readonly at?: number | undefined;
  /** The slot number its copies carry in their ids (see periodic-runs.ts). */
  readonly idSlot?: number | undefined;
  /** The next scheduled time after `now`. */
  readonly next?: number | undefined;
  /**
   * Why the current run does not launch now: `overlap` (an earlier run still runs and prohibitOverlap is set),
   * `isolated` (this view hears no other device; a cut-off device launches no fleet work), `invalid` (the
   * schedule cannot be read here).
   */
  readonly held?: 'overlap' | 'isolated' | 'invalid' | undefined;
}

/** One submitted version of a job: what placement needs to run copies of it. */
export type SchedJobVersion = Omit<SchedJob, 'name' | 'status' | 'history' | 'promoted'>;

/** When a slot whose copy failed gets a new one; durations in ms. */
export interface SchedReschedule {
  /** New copies allowed within `interval` (ignored when `unlimited`). */
  readonly attempts: number;
  readonly interval: number;
  /** Wait before the first new copy, doubling per failure up to `maxDelay`. */
  readonly delay: number;
  readonly maxDelay: number;
  readonly unlimited: boolean;
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
  /**
   * An operator drained it: it keeps its copies like a suspect node and takes no new ones, and its copies move
   * as the job's rollout allows (canaries, `maxParallel`, gated on verdicts), as if outdated. Absent: eligible.
   */
  readonly drained?: boolean;
  /** Device paths present on the node (fingerprinted, bounded). Absent: none. */
  readonly devices?: readonly string[] | undefined;
  /** Host path prefixes the node's operator allows jobs to mount. Absent: none. */
  readonly hostPaths?: readonly string[] | undefined;
}

export type AllocState = 'pending' | 'starting' | 'running' | 'failed' | 'complete' | 'lost';
export type AllocHealth = 'unknown' | 'healthy' | 'unhealthy';

/**
 * The owner's one-time judgement of a copy, written once and never changed (Nomad's deployment health of an
 * allocation): healthy once it has passed its checks for the version's `minHealthyTime`, unhealthy when a
 * check fails, it exits or fails first, or `healthyDeadline` passes without it becoming healthy.
 */
export interface Verdict {
  readonly healthy: boolean;
  /** Wall-clock ms on the owner when it was judged. */
  readonly at: number;
  readonly reason?: string | undefined;
}

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
  /** When a failed or complete copy ended. */
  readonly finishedAt?: number | undefined;
  /** Absent until the owner has judged the copy. */
  readonly verdict?: Verdict | undefined;
}

export interface LivenessEntry {
  readonly status: 'alive' | 'suspect' | 'lost';
  readonly lastSeen: number;
}

/** A node absent from the view is lost and was never heard from. */
export type LivenessView = ReadonlyMap<string, LivenessEntry> | Readonly<Record<string, LivenessEntry>>;

/**
 * `run`: this copy should run on `node`. `unknown`: `node` cannot be heard from; the copy is left running
 * there and is not controlled until the node is heard again. `outgoing`: an older version's copy kept running
 * beside its slot's new copy (a rollout's surge) until that one is judged healthy; never started, only kept.
 */
export type DesiredStatus = 'run' | 'unknown' | 'outgoing';

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
  /**
   * On an `unknown` copy: its slot would have been replaced by now, but this view hears no other device and the
   * job's `disconnect.whenIsolated` is `wait`, so nothing is started in its place. Absent otherwise.
   */
  readonly notReplaced?: 'isolated' | undefined;
}

export type StopReason =
  | 'job-stopped' // the job's desired status is stopped
  | 'orphaned' // the job no longer exists, or the alloc id is not one this scheduler names
  | 'scaled-down' // its slot is at or above the job's count
  | 'duplicate' // another copy of its slot survived reconciliation
  | 'updated' // its slot moved to the version the rollout targets and the new copy is healthy (or no room for both)
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

/**
 * - `canary`: the first `canary` slots move to the new version; the rest wait until all of them are healthy.
 * - `running`: slots move `maxParallel` at a time, each once the ones before it are healthy (with waves: within
 *   the current wave, see `wave`).
 * - `paused`: the canaries or first wave are healthy and `autoPromote` is off: nothing more moves until an
 *   operator promotes the version.
 * - `complete`: every slot has had a healthy copy of the newest version, or (waves) every slot was judged and
 *   the failures stayed within `maxFailureRatio`: `wave.tolerated` then lists the slots left on their old version.
 * - `failed`: a copy of the newest version was judged unhealthy first; no further slot moves (no autoRevert,
 *   or no earlier version was ever stable).
 * - `reverted`: as failed, and slots move back to the newest earlier stable version.
 */
export type RolloutPhase = 'canary' | 'running' | 'paused' | 'complete' | 'failed' | 'reverted';

/** Where a rollout in waves stands (waves.ts); the same on every agent that holds the same verdicts. */
export interface RolloutWave {
  /** The wave now moving, 1-based; after a failure, the wave that failed. */
  readonly index: number;
  readonly total: number;
  /** Its cumulative percentage and the slots `0..slots-1` it lets onto the new version. */
  readonly percent: number;
  readonly slots: number;
  /**
   * Slots judged unhealthy within `maxFailureRatio`: settled for the rest of the rollout, they hold no move and
   * never move again; their old copy serves alone until a newer version (tolerated.ts). Absent: none.
   */
  readonly tolerated?: readonly number[] | undefined;
}

export interface RolloutFailure {
  readonly version: number;
  /** The first copy (by verdict time, then id) judged unhealthy. */
  readonly allocId: string;
  readonly node: string;
  readonly at: number;
  readonly reason: string;
}

/** Progress of the slots `0..count-1` of the target version. */
export interface RolloutCounts {
  readonly total: number;
  /** Slots with a live copy of the target version. */
  readonly updated: number;
  /** ... of which judged healthy, */
  readonly healthy: number;
  /** ... and not yet judged. */
  readonly pending: number;
  /** Copies of the newest version judged unhealthy (live or not). */
  readonly unhealthy: number;
}

/**
 * A slot moving stop-then-start: no eligible node had room for its new copy beside the old one, so the old
 * stops first (`reason`: the dimension that ran out on the old copy's node, `ports` for a fixed host port).
 */
export interface RolloutStopFirst {
  readonly slot: number;
  readonly reason: string;
}

/** A job's rollout, derived from versions and verdicts alone (rollout.ts); the same on every agent. */
export interface Rollout {
  readonly job: string;
  /** The newest submitted version. */
  readonly latest: number;
  /** The version every slot should run: the newest, or what autoRevert fell back to. */
  readonly target: number;
  readonly phase: RolloutPhase;
  readonly failure?: RolloutFailure | undefined;
  /** Slots that go first, together. */
  readonly canary: number;
  /** Undefined: no update strategy, every slot moves at once. */
  readonly maxParallel?: number | undefined;
  readonly counts: RolloutCounts;
  /**
   * Set by placement: slots whose move goes stop-then-start (no room for both copies), in slot order. Every
   * other move surges: the new copy starts beside the old, which stops once the new one is judged healthy.
   */
  readonly stopFirst?: readonly RolloutStopFirst[] | undefined;
  /** A system job's slots: slot i is the copy on nodes[i] (peer ids, sorted). Absent for other jobs. */
  readonly nodes?: readonly string[] | undefined;
  /** A rollout in waves (`update.waves`) until its version is stable (kept on a complete one with tolerated slots). */
  readonly wave?: RolloutWave | undefined;
}

export interface Desired {
  readonly allocs: readonly DesiredAlloc[];
  readonly stops: readonly StopDecision[];
  readonly unplaced: readonly Unplaced[];
  /** One per running job, sorted by job. */
  readonly rollouts: readonly Rollout[];
  /** One per running periodic job, sorted by job; absent when there is none. */
  readonly runs?: readonly PeriodicRun[] | undefined;
  /**
   * The earliest later time at which `now` alone changes this result: a copy on an unheard node stops being
   * waited for once its job's `lostAfter` has passed. Undefined when time alone changes nothing, so an agent
   * recomputes on changes and at this time, not on a clock tick.
   */
  readonly revisitAt: number | undefined;
}

export interface Plan {
  readonly start: readonly DesiredAlloc[];
  readonly stop: readonly SchedAllocation[];
  readonly keep: readonly DesiredAlloc[];
}
