import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { prng } from '../../../sim/scale/prng.js';
import { RelayChoice } from '../../../src/node/liveness/liveness-relays.js';

const GRACE = 6_000;
const names = (n: number) => Array.from({ length: n }, (_, i) => `p${i}`);

describe('relay choice', () => {
  test('asks a few connected neighbours, and keeps the ones that deliver', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 6 }),
        fc.nat(),
        (n, want, seed) => {
          const random = prng(seed).next;
          const choice = new RelayChoice(want, GRACE);
          const neighbours = names(n);
          const first = choice.update(neighbours, () => undefined, 0, random);
          expect(first.size).toBe(Math.min(want, n));
          for (const peer of first) expect(neighbours).toContain(peer);
          // Every relay delivers each interval: the choice never moves.
          for (let t = 2_000; t <= 60_000; t += 2_000)
            expect(choice.update(neighbours, () => t, t, random)).toEqual(first);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('replaces a relay that stopped delivering, or went, by another neighbour', () => {
    const random = prng(7).next;
    const choice = new RelayChoice(2, GRACE);
    const neighbours = names(5);
    const [silent, good] = [...choice.update(neighbours, () => undefined, 0, random)] as [string, string];
    const heard = (peer: string) => (peer === silent ? undefined : 100_000);
    // Within the grace period a newly asked relay is left alone.
    expect(choice.update(neighbours, heard, GRACE, random)).toEqual(new Set([silent, good]));
    const after = choice.update(neighbours, heard, GRACE + 1, random);
    expect(after.has(silent)).toBe(false);
    expect(after.has(good)).toBe(true);
    expect(after.size).toBe(2);
    const gone = choice.update(
      neighbours.filter((p) => p !== good),
      () => GRACE + 1,
      GRACE + 2,
      random,
    );
    expect(gone.has(good)).toBe(false);
    expect(gone.size).toBe(2);
  });

  test('a device with one link keeps asking it, silent or not: there is nobody else to hear the mesh from', () => {
    const random = prng(3).next;
    const choice = new RelayChoice(4, GRACE);
    for (let t = 0; t <= 60_000; t += 2_000)
      expect(choice.update(['hub'], () => undefined, t, random)).toEqual(new Set(['hub']));
  });
});
