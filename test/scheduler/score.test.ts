import { describe, expect, test } from 'vitest';
import {
  affinityScore,
  antiAffinityScore,
  finalScore,
  fitScore,
  SCORE_SCALE,
} from '../../src/scheduler/score.js';
import { node } from './fixtures.js';

describe("Nomad's fit scores", () => {
  test.each([
    // algorithm, used cpu, used memory (of 1000 each), expected
    ['binpack', 0, 0, 0], // 20 - (10^1 + 10^1)
    ['binpack', 1000, 1000, 1], // 20 - (10^0 + 10^0) = 18, the maximum
    ['binpack', 500, 500, (20 - 2 * Math.sqrt(10)) / 18],
    ['binpack', 1000, 0, (20 - 11) / 18],
    ['spread', 0, 0, 1],
    ['spread', 1000, 1000, 0],
    ['spread', 500, 500, (2 * Math.sqrt(10) - 2) / 18],
    ['binpack', 2000, 2000, 1], // clamped
  ] as const)('%s at %i/%i used', (algorithm, cpu, memory, expected) => {
    expect(fitScore(algorithm, 1000, 1000, cpu, memory)).toBeCloseTo(expected, 12);
  });

  test('a node with no capacity left after its reserve counts as full', () => {
    expect(fitScore('binpack', 0, 0, 0, 0)).toBe(1);
  });
});

describe('other scorers and normalisation', () => {
  test('job anti-affinity costs (collisions + 1) / count', () => {
    expect(antiAffinityScore(1, 4)).toBe(-0.5);
    expect(antiAffinityScore(3, 2)).toBe(-2);
  });

  test('affinity is the matched weight over the total absolute weight', () => {
    const north = node('n', { labels: { zone: 'north' }, arch: 'arm64' });
    const affinities = [
      { attribute: 'label.zone', operator: '=', value: 'north', weight: 50 },
      { attribute: 'arch', operator: '=', value: 'amd64', weight: -25 },
      { attribute: 'arch', operator: '=', value: 'arm64', weight: -25 },
    ] as const;
    expect(affinityScore(affinities, north)).toBeCloseTo(25 / 100, 12);
    expect(affinityScore([], north)).toBe(0);
  });

  test('the final score is the mean of the scorers that apply, in integer millionths', () => {
    expect(finalScore(0.5, 0, 0, 3, false)).toBe(SCORE_SCALE / 2);
    expect(finalScore(0.5, 0, 1, 2, false)).toBe(Math.round(((0.5 - 1) / 2) * SCORE_SCALE));
    expect(finalScore(0.5, 0.25, 1, 2, true)).toBe(Math.round(((0.5 + 0.25 - 1 - 1) / 4) * SCORE_SCALE));
    expect(Number.isInteger(finalScore(1 / 3, 0, 0, 1, false))).toBe(true);
  });
});
