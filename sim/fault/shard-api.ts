import type { RuntimeEvent, Workload } from '../driver/sim-runtime.js';
import type { LinkRule, TrafficCounters } from './fault-network.js';
import type { FleetNode, FleetTimings } from './fleet.js';

/**
 * What the runner (sharded-fleet.ts) and a shard (shard-worker.ts) say to each other: a shard is a worker thread
 * carrying some of the fleet's agents, so that a large fleet uses every core. Everything here crosses threads by
 * structured clone: plain data only.
 */
export interface ShardInit {
  readonly nodes: readonly FleetNode[];
  /** Every node of the fleet, in every shard: the fault network's address book, and names in diagnoses. */
  readonly book: readonly { name: string; peerId: string; ip: string }[];
  readonly timings: FleetTimings;
  readonly tcpTimeoutMs: number;
  readonly seed: number;
  readonly root: string;
  /** The runner's performance.timeOrigin: a shard reports times on the runner's clock. */
  readonly timeOrigin: number;
}

/** A change to the fault network, applied in every shard (each shapes the links its agents dialled). */
export type NetworkChange =
  | { kind: 'partition'; groups: string[][] }
  | { kind: 'heal' }
  | { kind: 'set'; from: string; to: string; change: Partial<LinkRule>; both: boolean }
  | { kind: 'defaults'; change: Partial<LinkRule> }
  | { kind: 'offline'; name: string; reason: string; offline: boolean }
  | { kind: 'loss'; fraction: number; name?: string }
  | { kind: 'register'; name: string; peerId: string; ip: string };

/** What one agent hears (peers by liveness), holds (node records) and is linked to. */
export interface AgentCensus {
  alive: number;
  suspect: number;
  lost: number;
  records: number;
  connections: number;
  /** State gossip messages this agent has taken in since it started. */
  gossipIn: number;
}

/** One agent as a failed run's diagnosis shows it (peers already named). */
export interface AgentDiagnosis {
  name: string;
  /** Per job: this agent's placement rows, `alloc@node:desired`. */
  placement: Record<string, string>;
  /** Copies this agent wants running, with the status it holds for each. */
  wanted: { allocId: string; node: string; replicated: unknown }[];
  /** What this agent's reconciler did about each of its own allocations. */
  ownEvents: Record<string, unknown>;
  liveness: string;
  /** Per document: `epoch:heads`, to show which documents the replicas disagree on. */
  views: Record<string, string>;
  links: string;
  sync: Record<string, unknown>;
}

/** The calls a shard answers; the runner awaits each. */
export interface ShardApi {
  network(change: NetworkChange): void;
  /** Starts a node on its address of `generation`; answers its TCP address. */
  start(name: string, generation: number, join: string[]): Promise<string>;
  stop(name: string, crash: boolean): Promise<void>;
  stopAll(): Promise<void>;
  /** Per running agent: what it hears and holds. */
  census(): Promise<AgentCensus[]>;
  /** Running copies per job on this shard's devices. */
  copies(): [string, number][];
  /** Per running agent: its desired placement, as one comparable string. */
  placements(): string[];
  /** Per running agent: a hash of the document summaries it holds. */
  stateDigests(): string[];
  /** Of `jobs`, those some running agent here does not know, or knows as stopped. */
  unknownJobs(jobs: string[]): string[];
  /** Submits a job on `on`; answers once it is on that agent's disk (the acknowledgement). */
  submit(on: string, job: string, count: number): Promise<string>;
  runtime(): { all: Workload[]; events: RuntimeEvent[] };
  counters(): [string, TrafficCounters][];
  diagnose(): AgentDiagnosis[];
}

export type ShardRequest = { id: number; method: keyof ShardApi; args: unknown[] };
export type ShardResponse =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: string };
