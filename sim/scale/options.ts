import { type LatencyModel, parseLatency } from './latency.js';

/**
 * Everything a scale run depends on. Gossipsub parameters default to @libp2p/gossipsub's (D 6, Dhi 12, Dlazy 6,
 * gossip factor 0.25, heartbeat 1 s, gossip history 3 of 5 heartbeats, IDONTWANT from 512 B); peer counts and
 * the anti-entropy period to meshd's defaults (8 dialled peers, at most 64 connections, sync every 30 s ± 50 %).
 */
export interface ScaleOptions {
  readonly nodes: number;
  readonly seed: number;
  /** Fraction of gossipsub RPCs lost per transmission; sync frames ride TCP and are retransmitted instead. */
  readonly loss: number;
  readonly latency: LatencyModel;
  /** Simulated run length, ms. */
  readonly durationMs: number;
  /** Job submissions measured: the first creates the probe job, each next one updates it. */
  readonly changes: number;
  readonly firstChangeAtMs: number;
  readonly changeIntervalMs: number;
  /** Jobs every replica already holds when the run starts. */
  readonly baseJobs: number;
  /** Time a node spends validating and applying a message before it forwards it. */
  readonly processMs: number;
  /** Each node's uplink; sends queue behind each other on it. */
  readonly uplinkMbps: number;
  readonly targetPeers: number;
  readonly maxConnections: number;
  readonly D: number;
  readonly Dhi: number;
  readonly Dlazy: number;
  readonly gossipFactor: number;
  readonly heartbeatMs: number;
  readonly historyGossip: number;
  readonly historyLength: number;
  readonly idontwantMinBytes: number;
  /** IHAVE/IWANT lazy pull; off shows what mesh push and anti-entropy do alone. */
  readonly lazyGossip: boolean;
  /** Mean period of anti-entropy with a random connected peer; 0 turns it off. */
  readonly antiEntropyMs: number;
  /** Replicas whose placements are computed and compared at the end. */
  readonly placementSample: number;
  /** meshd's liveness digest period (its heartbeat interval); each node sends one digest per connection. */
  readonly livenessHeartbeatMs: number;
  /** meshd's suspectAfterMs: a beat silent this long at some node would make it suspect the sender. */
  readonly suspectAfterMs: number;
}

export const DEFAULTS: ScaleOptions = {
  nodes: 1000,
  seed: 1,
  loss: 0,
  latency: parseLatency('edge'),
  durationMs: 60_000,
  changes: 3,
  firstChangeAtMs: 5_000,
  changeIntervalMs: 10_000,
  baseJobs: 1,
  processMs: 1,
  uplinkMbps: 10,
  targetPeers: 8,
  maxConnections: 64,
  D: 6,
  Dhi: 12,
  Dlazy: 6,
  gossipFactor: 0.25,
  heartbeatMs: 1_000,
  historyGossip: 3,
  historyLength: 5,
  idontwantMinBytes: 512,
  lazyGossip: true,
  antiEntropyMs: 30_000,
  placementSample: 8,
  livenessHeartbeatMs: 2_000,
  suspectAfterMs: 6_000,
};

export function withDefaults(partial: Partial<ScaleOptions>): ScaleOptions {
  const options = { ...DEFAULTS, ...partial };
  const problems: string[] = [];
  if (!Number.isInteger(options.nodes) || options.nodes < 2) problems.push('nodes must be an integer ≥ 2');
  if (!(options.loss >= 0 && options.loss < 1)) problems.push('loss must be in [0, 1)');
  if (!Number.isInteger(options.seed)) problems.push('seed must be an integer');
  if (!(options.durationMs > 0)) problems.push('duration must be positive');
  if (!Number.isInteger(options.changes) || options.changes < 1) problems.push('changes must be ≥ 1');
  if (options.firstChangeAtMs + (options.changes - 1) * options.changeIntervalMs >= options.durationMs)
    problems.push('every change must be submitted before the run ends: raise duration');
  if (!(options.uplinkMbps > 0)) problems.push('uplink must be positive');
  if (problems.length > 0) throw new RangeError(problems.join('; '));
  return options;
}
