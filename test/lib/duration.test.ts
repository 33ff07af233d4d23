import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DURATION_PATTERN, formatDuration, parseDuration } from '../../src/lib/duration.js';

const msOf = (text: string) => {
  const parsed = parseDuration(text);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.ms;
};
const errorOf = (text: string) => {
  const parsed = parseDuration(text);
  if (parsed.ok) throw new Error(`"${text}" parsed as ${parsed.ms}`);
  return parsed.error;
};

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['10s', 10_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['2h', 7_200_000],
    ['24h', 86_400_000],
    ['1h0m5s', 3_605_000],
    ['1m500ms', 60_500],
    ['0', 0],
    ['0s', 0],
  ])('reads %s as %i ms', (text, ms) => {
    expect(msOf(text)).toBe(ms);
  });

  it.each([
    ['', /empty duration/],
    ['30', /"30" has no unit; write e\.g\. "30s"/],
    ['10x', /unknown unit "x" in "10x"/],
    ['5 m', /unknown unit " m"/],
    ['-5s', /cannot be negative/],
    ['1.5s', /fraction/],
    ['.5h', /fraction/],
    ['5m1h', /largest to smallest/],
    ['1h1h', /largest to smallest/],
    ['1h30', /ends with a number without a unit/],
    [' 10s', /invalid duration " 10s"/],
    ['ten seconds', /invalid duration/],
    ['99999999999999999h', /too long/],
  ])('rejects %j', (text, message) => {
    expect(errorOf(text)).toMatch(message);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [250, '250ms'],
    [1_500, '1500ms'],
    [10_000, '10s'],
    [60_000, '1m'],
    [90_000, '90s'],
    [5_400_000, '90m'],
    [3_600_000, '1h'],
    [86_400_000, '24h'],
    [3_723_000, '62m3s'],
  ])('writes %i ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses %d', (ms) => {
    expect(() => formatDuration(ms)).toThrow(RangeError);
  });

  it('round-trips every whole number of milliseconds, never longer than the obvious spellings', () => {
    const greedy = (ms: number) => {
      let rest = ms;
      let out = '';
      for (const [unit, size] of [
        ['h', 3_600_000],
        ['m', 60_000],
        ['s', 1_000],
        ['ms', 1],
      ] as const) {
        if (rest >= size) out += `${Math.floor(rest / size)}${unit}`;
        rest %= size;
      }
      return out;
    };
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 1, max: 2 ** 40 }),
          fc.integer({ min: 1, max: 10_000 }).map((n) => n * 60_000),
        ),
        (ms) => {
          const text = formatDuration(ms);
          expect(msOf(text)).toBe(ms);
          expect(text.length).toBeLessThanOrEqual(`${ms}ms`.length);
          expect(text.length).toBeLessThanOrEqual(greedy(ms).length);
        },
      ),
    );
  });

  it('agrees with the JSON Schema pattern editors use', () => {
    const pattern = new RegExp(DURATION_PATTERN);
    const alphabet = fc.constantFrom(...'0123456789hms.-x '.split(''));
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 10 }), (text) => {
        expect(pattern.test(text)).toBe(parseDuration(text).ok);
      }),
      { numRuns: 2_000 },
    );
  });
});
