import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { reconcile, type SlotCopy } from '../../src/scheduler/reconcile.js';
import type { AllocState, ReconcileMode } from '../../src/scheduler/types.js';

const copy = (allocId: string, over: Partial<SlotCopy> = {}): SlotCopy => ({
  allocId,
  jobVersion: 1,
  generation: 0,
  score: 500_000,
  startedAt: 0,
  state: 'running',
  ...over,
});

/** The original ran first (generation 0); the replacement was placed while its node was unreachable. */
const original = (over: Partial<SlotCopy> = {}) => copy('web.0.0.aaaaaaaa', over);
const replacement = (over: Partial<SlotCopy> = {}) =>
  copy('web.0.1.bbbbbbbb', { generation: 1, startedAt: 100, ...over });

const MODES: ReconcileMode[] = ['best_score', 'keep_original', 'keep_replacement', 'longest_running'];

describe('reconcile, one original and one replacement', () => {
  test.each([
    // mode, original, replacement, survivor
    ['best_score', {}, { score: 600_000 }, 'replacement'],
    ['best_score', {}, {}, 'original'], // a tie keeps the original
    ['best_score', { score: 600_000 }, {}, 'original'],
    ['keep_original', {}, { score: 900_000 }, 'original'],
    ['keep_replacement', { score: 900_000 }, {}, 'replacement'],
    ['keep_replacement', {}, {}, 'replacement'],
    ['longest_running', {}, { score: 900_000 }, 'original'],
    ['longest_running', { startedAt: 200 }, {}, 'replacement'], // the original restarted after the replacement began
    ['longest_running', { startedAt: 100 }, {}, 'original'], // same start: the original
    ['keep_original', {}, { jobVersion: 2 }, 'replacement'], // a newer version always wins
    ['keep_replacement', { jobVersion: 2 }, {}, 'original'],
    ['best_score', {}, { jobVersion: 2, score: 0 }, 'replacement'],
    ['longest_running', { jobVersion: 3 }, { jobVersion: 2 }, 'original'],
    ['keep_original', { state: 'failed' }, {}, 'replacement'], // a failed copy never survives a running one
    ['best_score', { state: 'failed', score: 900_000 }, {}, 'replacement'],
    ['longest_running', { state: 'lost' }, {}, 'replacement'],
    ['keep_replacement', {}, { state: 'failed' }, 'original'],
    ['keep_original', { state: 'complete', jobVersion: 2 }, {}, 'replacement'], // even of a newer version
    ['keep_replacement', {}, { state: 'pending' }, 'replacement'], // pending counts as live
  ] as const)('%s: original %o, replacement %o -> %s', (mode, o, r, expected) => {
    const a = original(o);
    const b = replacement(r);
    const result = reconcile([a, b], mode);
    const [winner, loser] = expected === 'original' ? [a, b] : [b, a];
    expect(result.survivor).toBe(winner);
    expect(result.losers).toEqual(['pending', 'starting', 'running'].includes(loser.state) ? [loser] : []);
  });

  test.each(MODES)('%s: no live copy, no survivor', (mode) => {
    const result = reconcile([original({ state: 'failed' }), replacement({ state: 'complete' })], mode);
    expect(result).toEqual({ survivor: undefined, losers: [] });
  });
});

describe('reconcile after a partition in which both sides replaced the slot', () => {
  const left = copy('web.0.1.11111111', { generation: 1, startedAt: 100, score: 400_000 });
  const right = copy('web.0.1.22222222', { generation: 1, startedAt: 90, score: 700_000 });

  test.each([
    ['best_score', [original(), left, right], 'web.0.1.22222222'],
    ['best_score', [original({ score: 700_000 }), left, right], 'web.0.0.aaaaaaaa'],
    ['keep_original', [original(), left, right], 'web.0.0.aaaaaaaa'],
    ['keep_replacement', [original(), left, right], 'web.0.1.22222222'], // the better placed of the two
    ['keep_replacement', [original(), left, { ...right, score: 400_000 }], 'web.0.1.22222222'], // then earlier start
    [
      'keep_replacement',
      [original(), left, { ...right, score: 400_000, startedAt: 100 }],
      'web.0.1.11111111',
    ],
    ['longest_running', [original({ startedAt: 95 }), left, right], 'web.0.1.22222222'],
  ] as const)('%s -> %s', (mode, copies, survivor) => {
    const result = reconcile(copies, mode);
    expect(result.survivor?.allocId).toBe(survivor);
    expect(result.losers).toHaveLength(2);
  });
});

const copyArb = fc.record({
  allocId: fc.stringMatching(/^web\.0\.[0-9]\.[0-9a-f]{8}$/),
  jobVersion: fc.integer({ min: 1, max: 3 }),
  generation: fc.integer({ min: 0, max: 3 }),
  score: fc.integer({ min: -1_000_000, max: 1_000_000 }),
  startedAt: fc.integer({ min: 0, max: 5 }),
  state: fc.constantFrom<AllocState>('pending', 'starting', 'running', 'failed', 'complete', 'lost'),
});

test('the survivor does not depend on the order copies arrive in, and exactly one live copy survives', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(copyArb, { selector: (c) => c.allocId, maxLength: 6 }),
      fc.constantFrom(...MODES),
      fc.nat(),
      (copies, mode, seed) => {
        const rotated = [
          ...copies.slice(seed % (copies.length || 1)),
          ...copies.slice(0, seed % (copies.length || 1)),
        ];
        const a = reconcile(copies, mode);
        const b = reconcile([...rotated].reverse(), mode);
        expect(b.survivor).toEqual(a.survivor);
        expect(b.losers).toEqual(a.losers);
        const live = copies.filter((c) => ['pending', 'starting', 'running'].includes(c.state));
        expect(a.losers.length + (a.survivor ? 1 : 0)).toBe(live.length);
        if (a.survivor) {
          expect(live).toContain(a.survivor);
          expect(a.survivor.jobVersion).toBe(Math.max(...live.map((c) => c.jobVersion)));
        }
      },
    ),
  );
});
