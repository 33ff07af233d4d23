import { describe, expect, it } from 'vitest';
import { fleetRecords } from '../../sim/scale/fleet.js';
import { comparePlacements } from '../../sim/scale/placement-check.js';
import { derive } from '../../sim/scale/prng.js';
import { runScale } from '../../sim/scale/run.js';
import { EPOCH_MS } from '../../sim/scale/simulator.js';

const SMALL = { nodes: 200, durationMs: 30_000, changes: 2, placementSample: 6 } as const;

describe('scale mode', () => {
  it('is deterministic: the same seed gives the same report, another seed another run', () => {
    const a = runScale({ ...SMALL, seed: 7, loss: 0.05 }).report;
    const b = runScale({ ...SMALL, seed: 7, loss: 0.05 }).report;
    const c = runScale({ ...SMALL, seed: 8, loss: 0.05 }).report;
    expect(b).toEqual(a);
    expect(c.changes.map((x) => x.submitter)).not.toEqual(a.changes.map((x) => x.submitter));
    expect(c.bytesPerNode).not.toEqual(a.bytesPerNode);
  });

  it('disseminates every change to every node by gossip alone when nothing is lost', () => {
    const { report } = runScale({ ...SMALL, seed: 1, antiEntropyMs: 0 });
    for (const change of report.changes) {
      expect(change.reached).toBe(200);
      expect(change.reach100Ms).not.toBeNull();
      expect(change.firstVia.sync).toBe(0);
      // The mesh pushes; the origin counts once.
      expect(change.firstVia.origin).toBe(1);
      expect(change.firstVia.mesh).toBeGreaterThan(150);
    }
    expect(report.counters.syncSessions).toBe(0);
    expect(report.converged.identicalReplicas).toBe(200);
    expect(report.counters.rejectedGossip).toBe(0);
  });

  it('converges through anti-entropy when heavy loss defeats gossip, and does not without it', () => {
    const lossy = { ...SMALL, seed: 3, loss: 0.6, lazyGossip: false, durationMs: 60_000 };
    const withoutSync = runScale({ ...lossy, antiEntropyMs: 0 }).report;
    expect(withoutSync.changes.some((c) => c.reached < 200)).toBe(true);

    const { report } = runScale({ ...lossy, antiEntropyMs: 5_000 });
    for (const change of report.changes) {
      expect(change.reached).toBe(200);
      expect(change.reach100Ms).not.toBeNull();
    }
    expect(report.changes.reduce((sum, c) => sum + c.firstVia.sync, 0)).toBeGreaterThan(0);
    expect(report.counters.syncErrors).toBe(0);
    expect(report.counters.syncRetransmits).toBeGreaterThan(0);
    expect(report.converged.identicalReplicas).toBe(200);
  });

  it('computes one identical placement on every sampled replica once converged', () => {
    const { report, sim } = runScale({ ...SMALL, seed: 5, loss: 0.1 });
    expect(report.converged.placement).toMatchObject({ replicas: 7, identical: true, distinct: 1 });
    // The probe job's last version asks for 4 copies on arm64 boards; the base job for 3.
    expect(report.converged.placement.allocs).toBe(7);

    // The check can fail: a replica that misses the last change places differently.
    const records = fleetRecords(200, derive(5, 'fleet'));
    const behind = runScale({ ...SMALL, seed: 5, changes: 1 }).sim.replicas[0]!.state;
    const disagreement = comparePlacements([sim.replicas[0]!.state, behind], records, EPOCH_MS);
    expect(disagreement.identical).toBe(false);
  });
});
