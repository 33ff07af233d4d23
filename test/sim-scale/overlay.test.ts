import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventQueue } from '../../sim/scale/event-queue.js';
import { parseLatency } from '../../sim/scale/latency.js';
import { prng } from '../../sim/scale/prng.js';
import { buildTopology } from '../../sim/scale/topology.js';
import { controlBytes, publishBytes, summaryEntryBytes } from '../../sim/scale/wire-size.js';

describe('event queue', () => {
  it('pops by time, and equal times in insertion order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
        const queue = new EventQueue<number>();
        for (const [i, t] of times.entries()) queue.push(t, i);
        const out: { at: number; event: number }[] = [];
        for (let e = queue.pop(); e; e = queue.pop()) out.push(e);
        const expected = times
          .map((at, event) => ({ at, event }))
          .sort((a, b) => a.at - b.at || a.event - b.event);
        expect(out).toEqual(expected);
      }),
    );
  });
});

describe('overlay', () => {
  it('builds a symmetric mesh inside the connections, every node meshed within [1, Dhi]', () => {
    const options = { nodes: 500, targetPeers: 8, maxConnections: 64, D: 6, Dhi: 12 };
    const { connections, mesh } = buildTopology(options, prng(11));
    for (let i = 0; i < options.nodes; i++) {
      const peers = mesh[i]!;
      expect(peers.length).toBeGreaterThanOrEqual(1);
      expect(peers.length).toBeLessThanOrEqual(options.Dhi);
      for (const j of peers) {
        expect(connections[i]).toContain(j);
        expect(mesh[j]).toContain(i);
      }
    }
    const meanDegree = mesh.reduce((s, m) => s + m.length, 0) / options.nodes;
    expect(meanDegree).toBeGreaterThanOrEqual(options.D);
  });

  it('sizes wire messages with the real codecs', () => {
    expect(publishBytes(1000) - publishBytes(500)).toBeGreaterThanOrEqual(500);
    // A signed message carries from, seqno, topic and a 64-byte signature.
    expect(publishBytes(0)).toBeGreaterThan(64 + 38 + 8);
    expect(controlBytes('ihave', 3) - controlBytes('ihave', 2)).toBeGreaterThanOrEqual(44);
    expect(summaryEntryBytes()).toBeCloseTo(17, 0);
  });

  it('rejects an unknown latency profile with the accepted forms', () => {
    expect(() => parseLatency('satellite')).toThrow(/lan, wan, edge/);
    expect(parseLatency('fixed:40').linkBase(prng(1))).toBe(40);
    const wan = parseLatency('wan');
    const random = prng(2);
    for (let i = 0; i < 100; i++) expect(wan.linkBase(random)).toBeGreaterThanOrEqual(25);
  });
});
