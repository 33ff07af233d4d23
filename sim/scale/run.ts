import { actorFor, type GossipMessage, MeshState } from '../../src/crdt/mesh-state.js';
import { fleetRecords, probeJob } from './fleet.js';
import { type LivenessModelReport, modelLiveness } from './liveness-model.js';
import { DEFAULTS, type ScaleOptions, withDefaults } from './options.js';
import { comparePlacements, type PlacementAgreement } from './placement-check.js';
import { derive } from './prng.js';
import { BYTE_KINDS, type ByteKind, type Via } from './sim-types.js';
import { EPOCH_MS, ScaleSimulator } from './simulator.js';
import { round, type Spread, spread } from './stats.js';

/**
 * One scale run: builds the fleet, runs the simulator, and reports. Deterministic: the same options give the
 * same report (wall time and memory are measured by the caller, outside it). Automerge must be initialised.
 */
export interface ChangeReport {
  readonly submittedAtMs: number;
  readonly submitter: number;
  readonly version: number;
  readonly gossipPayloadBytes: number;
  /** ms from submission until 99 % / 100 % of replicas held it; null if never within the run. */
  readonly reach99Ms: number | null;
  readonly reach100Ms: number | null;
  readonly reached: number;
  /** How each replica first got it: mesh push, IWANT after IHAVE, an anti-entropy session, or its own submit. */
  readonly firstVia: Record<Via, number>;
}

export interface ScaleReport {
  readonly options: Record<string, number | string | boolean>;
  readonly topology: {
    readonly connections: Spread;
    readonly meshDegree: Spread;
  };
  readonly changes: readonly ChangeReport[];
  readonly worst: { readonly reach99Ms: number | null; readonly reach100Ms: number | null };
  readonly bytesPerNode: {
    readonly sentTotal: Spread;
    readonly receivedTotal: Spread;
    readonly sentPerSecond: Spread;
    readonly receivedPerSecond: Spread;
    /** Mean bytes sent per node over the run, by kind. */
    readonly sentByKind: Record<ByteKind, number>;
    /** Mean gossip bytes (publish, IHAVE, IWANT, IDONTWANT) a node sends per measured change. */
    readonly gossipSentPerChange: number;
    /** Mean anti-entropy bytes a node sends per second (both as dialer and as listener). */
    readonly antiEntropySentPerSecond: number;
  };
  readonly counters: ScaleSimulator['counters'];
  /** meshd's liveness digests on the same overlay and links (liveness-model.ts). */
  readonly liveness: LivenessModelReport;
  readonly converged: {
    /** Replicas whose state digest equals the submitter's of the last change at the end of the run. */
    readonly identicalReplicas: number;
    readonly placement: PlacementAgreement;
  };
}

export function runScale(partial: Partial<ScaleOptions> = {}): { report: ScaleReport; sim: ScaleSimulator } {
  const options = withDefaults(partial);
  const records = fleetRecords(options.nodes, derive(options.seed, 'fleet'));
  const sim = new ScaleSimulator(options, baseState(options), options.nodes);
  sim.run();
  return { report: report(sim, records), sim };
}

/** The jobs every replica holds before the run, as the gossip that created them. */
function baseState(options: ScaleOptions): GossipMessage[] {
  const origin = new MeshState({ self: 'operator', actor: actorFor('operator', new Uint8Array(16)) });
  const out: GossipMessage[] = [];
  for (let j = 0; j < options.baseJobs; j++) {
    out.push(...origin.submitJob(`base-${j}`, probeJob(`base-${j}`, 1), 'operator', EPOCH_MS).publish);
  }
  return out;
}

function reachAt(reachedAt: Float64Array, fraction: number, since: number): number | null {
  const times = Float64Array.from(reachedAt).sort();
  const needed = Math.ceil(fraction * times.length);
  const firstHeld = times.findIndex((t) => t >= 0);
  if (firstHeld < 0 || times.length - firstHeld < needed) return null;
  return round(times[firstHeld + needed - 1]! - since);
}

function report(sim: ScaleSimulator, records: ReturnType<typeof fleetRecords>): ScaleReport {
  const o = sim.options;
  const n = o.nodes;
  const seconds = o.durationMs / 1000;
  const changes = sim.changes.map(
    (c): ChangeReport => ({
      submittedAtMs: c.atMs,
      submitter: c.submitter,
      version: c.version,
      gossipPayloadBytes: c.gossipBytes,
      reach99Ms: reachAt(c.reachedAt, 0.99, c.atMs),
      reach100Ms: reachAt(c.reachedAt, 1, c.atMs),
      reached: c.reached,
      firstVia: { ...c.via },
    }),
  );
  const worstOf = (pick: (c: ChangeReport) => number | null) =>
    changes.some((c) => pick(c) === null) ? null : Math.max(...changes.map((c) => pick(c) ?? 0));
  const measured = BYTE_KINDS;
  const total = (table: Record<ByteKind, Float64Array>) =>
    Float64Array.from({ length: n }, (_, i) => measured.reduce((sum, k) => sum + table[k][i]!, 0));
  const sent = total(sim.sent);
  const received = total(sim.received);
  const perSecond = (values: Float64Array) => values.map((v) => v / seconds);
  const mean = (values: Float64Array) => round(values.reduce((a, b) => a + b, 0) / n);
  const digests = sim.digests();
  const lastSubmitter = sim.changes.at(-1)?.submitter ?? 0;
  const reference = digests[lastSubmitter];
  const sample = derive(o.seed, 'placement-sample').sample([...Array(n).keys()], o.placementSample);
  return {
    options: describe(o),
    topology: {
      connections: spread(sim.topology.connections.map((c) => c.length)),
      meshDegree: spread(sim.topology.mesh.map((m) => m.length)),
    },
    changes,
    worst: { reach99Ms: worstOf((c) => c.reach99Ms), reach100Ms: worstOf((c) => c.reach100Ms) },
    bytesPerNode: {
      sentTotal: spread(sent),
      receivedTotal: spread(received),
      sentPerSecond: spread(perSecond(sent)),
      receivedPerSecond: spread(perSecond(received)),
      sentByKind: Object.fromEntries(measured.map((k) => [k, mean(sim.sent[k])])) as Record<ByteKind, number>,
      gossipSentPerChange: round(
        (['publish', 'ihave', 'iwant', 'idontwant'] as const).reduce((sum, k) => sum + mean(sim.sent[k]), 0) /
          o.changes,
      ),
      antiEntropySentPerSecond: round(mean(sim.sent.sync) / seconds),
    },
    counters: { ...sim.counters },
    liveness: modelLiveness(
      {
        nodes: n,
        intervalMs: o.livenessHeartbeatMs,
        suspectAfterMs: o.suspectAfterMs,
        durationMs: o.durationMs,
        loss: o.loss,
        uplinkMbps: o.uplinkMbps,
      },
      sim.topology,
      (key) => sim.linkLatency(key),
      derive(o.seed, 'liveness'),
    ),
    converged: {
      identicalReplicas: digests.filter((d) => d === reference).length,
      placement: comparePlacements(
        [lastSubmitter, ...sample].map((i) => sim.replicas[i]!.state),
        records,
        sim.absoluteNow,
      ),
    },
  };
}

function describe(o: ScaleOptions): Record<string, number | string | boolean> {
  const out: Record<string, number | string | boolean> = {};
  for (const key of Object.keys(DEFAULTS) as (keyof ScaleOptions)[]) {
    const value = o[key];
    out[key] = typeof value === 'object' ? value.name : value;
  }
  return out;
}
