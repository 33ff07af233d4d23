/**
 * The replicated state and this agent's liveness view, as the scheduler's input. Pure and deterministic: the
 * output depends only on the content of its arguments, never on the order entries arrived in, so agents whose
 * replicas and views agree hand `place` the same input.
 *
 * A job whose current spec this agent cannot read (a newer agent wrote a field it does not know, or the
 * document was damaged) is skipped and reported, and so are that job's allocations: without them the scheduler
 * would call the job's running copies orphans and stop them, and an agent that merely cannot read a spec must
 * not stop the fleet's work.
 */
import type { JobVersion, JobView } from '../../crdt/job-log.js';
import type { JobSpec } from '../../crdt/job-spec.js';
import { deviceHostPaths, hostPathsOf } from '../../crdt/job-spec-storage.js';
import { readJobSpec } from '../../crdt/job-specs.js';
import type { AllocStatus, NodeRecord } from '../../crdt/records.js';
import { compareText } from '../../lib/compare-text.js';
import type { Result } from '../../lib/result.js';
import type {
  LivenessEntry,
  SchedAllocation,
  SchedJob,
  SchedJobVersion,
  SchedNode,
} from '../../scheduler/index.js';

/** What MeshState's views return (`jobs()`, `nodes()`, `allocations()`). */
export interface StateViews {
  readonly jobs: readonly JobView[];
  readonly nodes: readonly NodeRecord[];
  readonly allocations: readonly AllocStatus[];
  /**
   * This agent's `trustRootOf` (closed mesh). Nodes that declare another root refuse the jobs this agent
   * accepts, so they are not placed on; every member of a mesh shares the root, so members still agree.
   */
  readonly trustRoot?: string | undefined;
  /** Devices an operator drained (the trust document): they take no new copies and theirs move elsewhere. */
  readonly drained?: ReadonlySet<string> | undefined;
}

/** One entry of the liveness view (`LivenessView.list(now)` returns a superset of this). */
export interface PeerLiveness extends LivenessEntry {
  readonly peerId: string;
}

export interface SkippedJob {
  readonly job: string;
  readonly version: number;
  readonly reason: string;
}

export interface PlacementInput {
  readonly jobs: readonly SchedJob[];
  readonly nodes: readonly SchedNode[];
  readonly allocations: readonly SchedAllocation[];
  /** Sorted by peer id; this agent is in it and alive. */
  readonly liveness: ReadonlyMap<string, LivenessEntry>;
  /** Jobs left out because their spec could not be read, sorted by name. */
  readonly skipped: readonly SkippedJob[];
}

/** Reads a job version's spec; a caller that places often can memoise it by `specHash`. */
export type SpecReader = (version: JobVersion) => Result<JobSpec>;

export function placementInput(
  state: StateViews,
  liveness: readonly PeerLiveness[],
  self: string,
  now: number,
  readSpec: SpecReader = readJobSpec,
): PlacementInput {
  const jobs: SchedJob[] = [];
  const skipped: SkippedJob[] = [];
  for (const view of [...state.jobs].sort((a, b) => compareText(a.name, b.name))) {
    const spec = readSpec(view.current);
    if (!spec.ok) skipped.push({ job: view.name, version: view.current.version, reason: spec.error });
    else if (spec.value.name !== view.name)
      skipped.push({
        job: view.name,
        version: view.current.version,
        reason: `spec names job "${spec.value.name}"`,
      });
    else jobs.push({ ...schedJob(view, spec.value), history: earlier(view, readSpec) });
  }
  const unreadable = new Set(skipped.map((s) => s.job));
  return {
    jobs,
    nodes: [...state.nodes]
      .filter((n) => acceptsOurJobs(n, state.trustRoot))
      .sort((a, b) => compareText(a.peerId, b.peerId))
      .map((n) => schedNode(n, state.drained?.has(n.peerId) === true)),
    allocations: state.allocations
      .filter((a) => !unreadable.has(a.job))
      .sort((a, b) => compareText(a.allocId, b.allocId) || compareText(a.node, b.node))
      .map(schedAllocation),
    liveness: livenessView(liveness, self, now),
    skipped,
  };
}

/**
 * Earlier versions autoRevert may fall back to, newest first. Of concurrent submissions that share a number
 * the one the job log ranks first counts (copies carry only the number; resolveSpec picks the same one), and
 * versions this agent cannot read are left out: it could not run them anyway.
 */
function earlier(view: JobView, readSpec: SpecReader): SchedJobVersion[] {
  const out: SchedJobVersion[] = [];
  const seen = new Set<number>([view.current.version]);
  for (const entry of view.history) {
    if (seen.has(entry.version)) continue;
    seen.add(entry.version);
    const spec = readSpec(entry);
    if (spec.ok && spec.value.name === view.name) out.push(schedVersion(entry.version, spec.value));
  }
  return out;
}

function schedJob(view: JobView, spec: JobSpec): SchedJob {
  const job = {
    name: view.name,
    status: view.desired,
    ...schedVersion(view.current.version, spec),
    ...(view.promoted === undefined ? {} : { promoted: view.promoted }),
  };
  if (spec.type !== 'periodic' || spec.schedule === undefined) return job;
  // Runs due before this version was submitted are not launched by it (scheduler/periodic-runs.ts).
  const { schedule, timeZone = 'UTC', prohibitOverlap = true } = spec;
  return { ...job, periodic: { schedule, timeZone, prohibitOverlap, since: view.current.submittedAt } };
}

function schedVersion(version: number, spec: JobSpec): SchedJobVersion {
  return {
    version,
    type: spec.type,
    count: spec.count,
    driver: spec.driver,
    resources: { cpu: spec.resources.cpu, memory: spec.resources.memory },
    constraints: spec.constraints,
    affinities: spec.affinities,
    scheduling: { algorithm: spec.scheduling.algorithm },
    ports: spec.ports.map((p) => ({ host: p.host, protocol: p.protocol })),
    disconnect: { ...spec.disconnect },
    ...(spec.reschedule === undefined ? {} : { reschedule: { ...spec.reschedule } }),
    update: {
      maxParallel: spec.update.maxParallel,
      canary: spec.update.canary,
      autoRevert: spec.update.autoRevert,
      ...rolloutOptions(spec.update),
    },
    ...hardwareNeeds(spec),
  };
}

/** Each absent unless the spec sets it, so a job without them places exactly as before. */
function rolloutOptions(update: JobSpec['update']): Partial<SchedJobVersion['update']> {
  const { waves, maxFailureRatio, autoPromote } = update;
  return {
    ...(waves === undefined ? {} : { waves }),
    ...(maxFailureRatio === undefined ? {} : { maxFailureRatio }),
    ...(autoPromote === undefined ? {} : { autoPromote }),
  };
}

/** Absent when the job needs none, so a job without devices or host paths places exactly as before. */
function hardwareNeeds(spec: JobSpec): Pick<SchedJobVersion, 'devices' | 'hostPaths'> {
  const devices = deviceHostPaths(spec);
  const hostPaths = hostPathsOf(spec);
  return { ...(devices.length > 0 ? { devices } : {}), ...(hostPaths.length > 0 ? { hostPaths } : {}) };
}

/** A record without a root comes from an open mesh or an older agent: placed on as before. */
function acceptsOurJobs(node: NodeRecord, trustRoot: string | undefined): boolean {
  return trustRoot === undefined || node.trustRoot === undefined || node.trustRoot === trustRoot;
}

/** Drained (trust document) is data for the scheduler, which stays pure; agents agree as their documents do. */
function schedNode(r: NodeRecord, drained: boolean): SchedNode {
  return {
    peerId: r.peerId,
    name: r.name,
    labels: r.labels,
    arch: r.arch,
    os: r.os,
    cpu: r.cpu,
    memory: r.memory,
    reserved: { cpu: r.reserved.cpu, memory: r.reserved.memory },
    drivers: r.drivers,
    ...(drained ? { drained } : {}),
    ...(r.devices === undefined ? {} : { devices: r.devices }),
    ...(r.hostPaths === undefined ? {} : { hostPaths: r.hostPaths }),
  };
}

function schedAllocation(a: AllocStatus): SchedAllocation {
  return {
    allocId: a.allocId,
    job: a.job,
    jobVersion: a.jobVersion,
    node: a.node,
    state: a.state,
    health: a.health,
    startedAt: a.startedAt,
    restarts: a.restarts,
    ...(a.finishedAt === undefined ? {} : { finishedAt: a.finishedAt }),
    ...(a.verdict === undefined ? {} : { verdict: a.verdict }),
  };
}

/**
 * The liveness module never lists the local node, yet the scheduler must see it alive: otherwise this agent's
 * own copies would look unreachable and be replaced elsewhere. Should a peer appear twice, the freshest entry
 * counts, whatever order the two came in.
 */
function livenessView(
  entries: readonly PeerLiveness[],
  self: string,
  now: number,
): Map<string, LivenessEntry> {
  const byPeer = new Map<string, LivenessEntry>();
  for (const e of entries) {
    if (e.peerId === self) continue;
    const seen = byPeer.get(e.peerId);
    if (seen === undefined || fresher(e, seen))
      byPeer.set(e.peerId, { status: e.status, lastSeen: e.lastSeen });
  }
  byPeer.set(self, { status: 'alive', lastSeen: now });
  return new Map([...byPeer].sort(([a], [b]) => compareText(a, b)));
}

const STATUS_RANK = { lost: 0, suspect: 1, alive: 2 } as const;

function fresher(a: LivenessEntry, b: LivenessEntry): boolean {
  return (
    a.lastSeen > b.lastSeen || (a.lastSeen === b.lastSeen && STATUS_RANK[a.status] > STATUS_RANK[b.status])
  );
}
