/**
 * A view that hears no other device: by default it replaces nothing and says so on the unheard copy
 * (`notReplaced: 'isolated'`); `disconnect.whenIsolated: replace` takes the copies over (issue 18, two-device site).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { place } from '../../src/scheduler/placement.js';
import type { Desired, LivenessEntry, SchedJob } from '../../src/scheduler/types.js';
import { alive, job, node, started } from './fixtures.js';
import { type World, worldArb } from './world.js';

const lost = (lastSeen: number): LivenessEntry => ({ status: 'lost', lastSeen });
const disconnect = (over: Partial<NonNullable<SchedJob['disconnect']>> = {}) => ({
  lostAfter: 0,
  replace: true,
  reconcile: 'best_score' as const,
  ...over,
});

/** Two devices; the copy ran on y, which x no longer hears. */
function pair(jobOver: Partial<SchedJob>, now = 1_000) {
  const nodes = [node('x'), node('y')];
  const web = job('web', jobOver);
  const pinned = place([web], [node('y')], [], alive(['y']), 0);
  const view = new Map([
    ['x', { status: 'alive', lastSeen: now } as const],
    ['y', lost(100)],
  ]);
  return place([web], nodes, started(pinned), view, now);
}

const shape = (d: Desired) => d.allocs.map((a) => [a.node, a.status, a.notReplaced]);

describe('an isolated view', () => {
  test('by default replaces nothing and marks the unheard copy as not replaced', () => {
    const d = pair({});
    expect(shape(d)).toEqual([['y', 'unknown', 'isolated']]);
    expect(d.unplaced).toEqual([]);
    expect(
      place([job('web', { disconnect: disconnect({ whenIsolated: 'wait' }) })], [], [], alive([]), 0),
    ).toEqual(place([job('web', { disconnect: disconnect() })], [], [], alive([]), 0));
  });

  test('with whenIsolated: replace starts the copy here, and marks nothing', () => {
    const d = pair({ disconnect: disconnect({ whenIsolated: 'replace' }) });
    expect(shape(d)).toEqual([
      ['y', 'unknown', undefined],
      ['x', 'run', undefined],
    ]);
  });

  test('marks nothing while lostAfter still runs, and comes back when it has run out', () => {
    const d = pair({ disconnect: disconnect({ lostAfter: 5_000 }) });
    expect(shape(d)).toEqual([['y', 'unknown', undefined]]);
    expect(d.revisitAt).toBe(5_100);
    expect(shape(pair({ disconnect: disconnect({ lostAfter: 5_000 }) }, 6_000))).toEqual([
      ['y', 'unknown', 'isolated'],
    ]);
  });

  test('replace: false is not an isolation matter: nothing is marked', () => {
    expect(shape(pair({ disconnect: disconnect({ replace: false }) }))).toEqual([
      ['y', 'unknown', undefined],
    ]);
  });

  test('a view that hears another device replaces as before, whatever whenIsolated says', () => {
    const nodes = [node('x'), node('y'), node('z')];
    const web = job('web');
    const actual = started(place([web], [node('y')], [], alive(['y']), 0));
    const view = new Map([...alive(['x', 'z'], 1_000), ['y', lost(100)]]);
    const d = place([web], nodes, actual, view, 1_000);
    expect(d.allocs.filter((a) => a.status === 'run')).toHaveLength(1);
    expect(d.allocs.every((a) => a.notReplaced === undefined)).toBe(true);
  });
});

/** The world as its first node hears it when it hears no one else (every other node lost). */
function isolatedView(w: World): Map<string, LivenessEntry> {
  return new Map(
    w.nodes.map((n, i) => [
      n.peerId,
      i === 0 ? { status: 'alive', lastSeen: w.now } : lost(w.liveness.get(n.peerId)?.lastSeen ?? 0),
    ]),
  );
}

const withIsolated = (jobs: readonly SchedJob[], whenIsolated: 'wait' | 'replace') =>
  jobs.map((j) => ({ ...j, disconnect: { ...disconnect(), ...j.disconnect, whenIsolated } }));

describe('whenIsolated, by property', () => {
  test('only a view that hears no other device marks copies, and only unknown ones', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const d = place(w.jobs, w.nodes, w.actual, w.liveness, w.now);
        const marked = d.allocs.filter((a) => a.notReplaced !== undefined);
        const heard = [...w.liveness.values()].filter((e) => e.status === 'alive').length;
        if (marked.length > 0) expect(heard <= 1 && w.nodes.length > 1).toBe(true);
        for (const a of marked) expect(a.status).toBe('unknown');
      }),
    );
  });

  test('isolated: a marked slot is exactly one that replace takes over, and what runs here stays', () => {
    fc.assert(
      fc.property(
        worldArb.filter((w) => w.nodes.length > 1),
        (w) => {
          const view = isolatedView(w);
          const wait = place(withIsolated(w.jobs, 'wait'), w.nodes, w.actual, view, w.now);
          const replace = place(withIsolated(w.jobs, 'replace'), w.nodes, w.actual, view, w.now);
          expect(JSON.stringify(place(w.jobs, w.nodes, w.actual, view, w.now))).toBe(JSON.stringify(wait));
          expect(replace.allocs.filter((a) => a.notReplaced !== undefined)).toEqual([]);
          const slot = (a: { job: string; slot: number }) => `${a.job}.${a.slot}`;
          const marked = new Set(wait.allocs.filter((a) => a.notReplaced === 'isolated').map(slot));
          const filled = new Set([
            ...replace.allocs.filter((a) => a.status === 'run').map(slot),
            ...replace.unplaced.map(slot),
          ]);
          const filledBefore = new Set([
            ...wait.allocs.filter((a) => a.status === 'run').map(slot),
            ...wait.unplaced.map(slot),
          ]);
          for (const s of marked) {
            expect(filledBefore.has(s)).toBe(false);
            expect(filled.has(s)).toBe(true);
          }
          for (const s of filled) if (!filledBefore.has(s)) expect(marked.has(s)).toBe(true);
          // Copies already running here stay under either choice (new ones may go elsewhere or nowhere).
          const reported = new Set(w.actual.map((a) => a.allocId));
          const kept = (d: Desired) =>
            d.allocs.filter((a) => a.status === 'run' && reported.has(a.allocId)).map((a) => a.allocId);
          expect(kept(replace)).toEqual(kept(wait));
        },
      ),
    );
  });
});
