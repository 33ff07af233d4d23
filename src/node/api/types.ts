/**
 * The control API's wire types: what the routes answer and what `meshctl` reads. The one module of src/node the
 * CLI imports types from (its runtime needs come through ./client.ts).
 */
import type { JobEvent, JobVersion, JobView } from '../../crdt/job-log.js';
import type { JobRejection, SubmitOutcome } from '../../crdt/mesh-state.js';
import type { AllocStatus, NodeRecord } from '../../crdt/records.js';
import type { ImageHolding } from '../../registry-p2p/oci-protocol.js';
import type { JobCopyCounts, JobStatusName } from '../../scheduler/job-status.js';
import type { LogLine } from '../drivers/driver.js';
import type { MeshEvent } from '../events/mesh-events.js';
import type { LivenessStatus } from '../liveness/liveness.js';
import type { PeerInfo } from '../liveness/liveness-service.js';
import type { DialError } from '../net/peer-dialer.js';
import type { ReachabilityView } from '../net/reachability.js';
import type { AllocRow, JobPlacement } from '../placement/placement-service.js';
import type { AllocEvent } from '../workloads/alloc-events.js';
import type { WarmUp } from '../workloads/workloads.js';

/**
 * One row of `meshctl alloc list` (`GET /v1/allocs`): the placement's row, or `desired: 'finished'` for a copy
 * that ended and is no longer placed, with the state and exit code its node last reported (null: none yet).
 */
export type AllocListRow = (
  | AllocRow
  | {
      allocId: string;
      job: string;
      jobVersion: number;
      node: string;
      nodeName: string;
      desired: 'finished';
    }
) & { state: AllocStatus['state'] | null; exitCode?: number };

export type {
  AllocEvent,
  AllocRow,
  AllocStatus,
  DialError,
  JobPlacement,
  LivenessStatus,
  LogLine,
  MeshEvent,
  PeerInfo,
  WarmUp,
};

/** `GET /v1/status`: what `meshctl status` shows. */
export interface AgentStatus {
  peerId: string;
  name: string;
  version: string;
  labels: Record<string, string>;
  addresses: string[];
  peers: Record<LivenessStatus, number>;
  connections: number;
  startedAt: number;
  uptimeSeconds: number;
  dialErrors: DialError[];
  /** Whether peers can dial this device, and its relays (net/reachability.ts). */
  reachability: ReachabilityView;
  /** While the agent warms up (one lost period after start): new copies placed here wait. Absent after. */
  warmUp?: WarmUp;
}

/**
 * What the job is doing, derived from copy statuses and placement (scheduler/job-status.ts), beside what the
 * operator asked for (`desired`): a job asked to run is `running` only when its copies do.
 */
export interface DerivedStatus {
  desired: JobView['desired'];
  /** Why the job is not simply running (failed copies, per-dimension placement failures, copies starting). */
  reason?: string | undefined;
  /** The newest copy of each slot of the version being run; earlier copies are history and not counted. */
  copies: JobCopyCounts;
  /** `rolling out v3: 1/3`, `rolled back to v2: ...`; absent when no rollout is under way. */
  rollout?: string | undefined;
}

/** What `meshctl job list` shows per job. */
export interface JobSummary extends Partial<DerivedStatus> {
  name: string;
  status: JobStatusName | 'rejected';
  version: number;
  type: string;
  count: number | null;
  submittedAt: number;
  /** Copies of the current version running now (`copies.running`). */
  allocations: number;
}

/** What `meshctl job status` shows. */
export interface JobDetail extends DerivedStatus {
  name: string;
  status: JobStatusName;
  /** When and by whom `desired` was last set. */
  statusSince: number;
  statusBy: string;
  version: number;
  specHash: string;
  spec: JobVersion['spec'];
  submittedBy: string;
  submittedAt: number;
  allocations: AllocStatus[];
  /** The newest change to the job did not count (closed mesh): why, and who wrote it. */
  rejected?: JobRejection;
}

/** A job whose every change was refused: it never runs. */
export interface RejectedJobDetail {
  name: string;
  status: 'rejected';
  rejected: JobRejection;
}

export type JobHistoryEntry = Omit<JobVersion, 'spec'> & { current: boolean };

export interface SubmitAnswer {
  name: string;
  version: number;
  outcome: SubmitOutcome;
}

/** One field a job file changes against the current version (dotted path; lists compared whole). */
export interface SpecChange {
  field: string;
  /** Absent: the field is new. */
  from?: unknown;
  /** Absent: the field is gone. */
  to?: unknown;
}

/** `meshctl job plan`: what `job run` would do, nothing stored. */
export interface JobPlanAnswer {
  name: string;
  /** What the submit would be: `created`, `updated`, `started` (again after a stop) or `unchanged`. */
  outcome: SubmitOutcome;
  /** The version the file would become (the current one when unchanged). */
  version: number;
  currentVersion: number | null;
  changes: SpecChange[];
  /** Changed fields beyond those listed. */
  moreChanges: number;
  /** This agent's placement of the candidate, as `GET /v1/placement/:job` shows a stored version's. */
  placement: JobPlacement;
}

/** A node as the mesh replicates it, with this agent's view of whether it is alive. */
/** `eligible`: false once an operator drained the node (trust document), until made eligible again. */
export type NodeInfo = NodeRecord & {
  liveness: LivenessStatus | 'unknown';
  self: boolean;
  eligible: boolean;
};

/** What `meshctl` asks before signing: the event this agent would add, for the operator to sign. */
export interface PlannedJobEvent {
  name: string;
  outcome: string;
  version?: number;
  event?: JobEvent;
}

/** The mesh's trust as this agent derives it. */
export interface TrustInfo {
  closed: boolean;
  operators: string[];
  revoked: string[];
  drained: string[];
}

export interface NodeImages {
  peerId: string;
  name: string;
  /** Null when the node did not answer in time. */
  images: ImageHolding[] | null;
}

/** What `meshctl alloc status` shows: the replicated status, the desired placement, and the owner's events. */
export interface AllocDetail {
  allocId: string;
  /** As the owning node last reported it, replicated to every agent. */
  status: AllocStatus | null;
  /** Where this agent's placement wants the copy, or why it stops it. */
  desired: AllocRow | null;
  /** Recent events, kept by the node that runs the copy and asked of it; null when it could not be asked. */
  events: AllocEvent[] | null;
  /** Why the owner's events are missing: it did not answer in time, or refused. */
  eventsError?: string;
  owner: { peerId: string; name: string; local: boolean } | null;
}

/** One NDJSON record of `GET /v1/allocs/:id/logs`: lines, then exactly one `end` or `error` as the last. */
export type LogRecord = LogLine | { end: true } | { error: string };

/** `GET /v1/events?follow=true`: one per line; an `error` record ends a follow that fell behind. */
export type EventRecord = MeshEvent | { error: string };

/** `GET /v1/services[/:name]`: a service and its healthy instances (node/services/service-catalog.ts). */
export type { CatalogService as ServiceInfo, ServiceInstance } from '../services/service-catalog.js';

/** A variable as `GET /v1/vars` shows it: who it is sealed to, never its values (docs/security.md). */
export interface VarInfo {
  readonly path: string;
  readonly version: number;
  /** The version's id (hash), which added seals name. */
  readonly id: string;
  readonly at: number;
  /** The operator who put it. */
  readonly by: string;
  /** Operators and devices holding a sealed data key. */
  readonly sealedTo: readonly string[];
  /** Eligible now but not sealed yet (a re-seal is due). */
  readonly unsealed: readonly string[];
  /** Whether the answering agent can open the current version (it never says what it holds). */
  readonly thisDevice: 'opens' | 'cannot-open' | 'not-sealed';
}

/** `GET /v1/vars/:path`: the ciphertext and its seals, for `meshctl var get` to open with the operator key. */
export interface VarSealed extends VarInfo {
  /** The operator-signed version with the seals made at put: meshctl checks the signature before opening it. */
  readonly entry: {
    readonly path: string;
    readonly version: number;
    readonly at: number;
    readonly by: string;
    readonly nonce: string;
    readonly data: string;
    readonly seals: Readonly<Record<string, { pub: string; epk: string; ct: string }>>;
    readonly auth?: { readonly signer: string; readonly sig: string } | undefined;
  };
  /** Every seal that counts, the version's own and those added for devices eligible later. */
  readonly seals: Readonly<Record<string, { pub: string; epk: string; ct: string }>>;
}

/** `POST /v1/vars/:path/plan`: what meshctl seals a new version to. */
export interface VarPlan {
  readonly path: string;
  readonly version: number;
  readonly current: number | undefined;
  readonly recipients: readonly { id: string; pub: string; kind: 'operator' | 'device' }[];
}
