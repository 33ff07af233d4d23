import { describe, expect, it } from 'vitest';
import { modelLiveness } from '../../sim/scale/liveness-model.js';
import { prng } from '../../sim/scale/prng.js';
import { buildTopology } from '../../sim/scale/topology.js';
import { RELAYS_WANTED } from '../../src/node/liveness/liveness-relays.js';

const NODES = 400;
const topology = buildTopology({ nodes: NODES, targetPeers: 8, maxConnections: 64, D: 6, Dhi: 12 }, prng(3));
const run = (overrides: Partial<Parameters<typeof modelLiveness>[0]> = {}) =>
  modelLiveness(
    {
      nodes: NODES,
      intervalMs: 2_000,
      suspectAfterMs: 6_000,
      durationMs: 40_000,
      loss: 0,
      uplinkMbps: 10,
      ...overrides,
    },
    topology,
    () => 50,
    prng(9),
  );

describe('liveness digest model', () => {
  it('spreads every beat to the whole fleet within a few periods, and no alive node ever looks suspect', () => {
    const report = run();
    expect(report.beatReach100Ms.max).not.toBeNull();
    // Hop by hop at most one period each, over a diameter of a few hops.
    expect(report.beatReach100Ms.max!).toBeLessThan(5 * 2_000);
    expect(report.maxSilenceMs).toBeLessThan(6_000);
    expect(report.nodesFalselySuspecting).toBe(0);
    // A digest per relay that asked, per period (every node asks RELAYS_WANTED), whatever a node's connections;
    // after the first frame on a stream, a few bytes per node. Own-beat frames are tens of bytes.
    expect(report.digestsSentPerNodePerSecond).toBeCloseTo(RELAYS_WANTED / 2, 1);
    expect(report.ownBeatsSentPerNodePerSecond).toBeGreaterThan(0);
    expect(report.digestBytes.steady).toBeLessThan(10 * NODES);
    expect(report.digestBytes.ownBeat).toBeLessThan(100);
    expect(report.digestBytes.firstOnAStream).toBeGreaterThan(5 * report.digestBytes.steady);
    expect(report.bytesSentPerNodePerSecond).toBeCloseTo(
      report.digestsSentPerNodePerSecond * report.digestBytes.steady +
        report.ownBeatsSentPerNodePerSecond * report.digestBytes.ownBeat,
      -2,
    );
  });

  it('sees false suspicion where it would happen: a suspicion threshold shorter than a period, or heavy loss', () => {
    expect(run({ suspectAfterMs: 1_500 }).nodesFalselySuspecting).toBeGreaterThan(0);
    expect(run({ loss: 0.6 }).maxSilenceMs).toBeGreaterThan(run().maxSilenceMs);
  });

  it('is a function of its inputs', () => {
    expect(run()).toEqual(run());
  });
});
