import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sinceParam, splitTimestamp } from '../../../src/node/drivers/docker-log-timestamps.js';

describe('docker log timestamps', () => {
  it('split the RFC 3339 nanosecond prefix off, ordered as the instants are', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_000_000_000 }),
        fc.integer({ min: 0, max: 999_999_999 }),
        fc.string(),
        (seconds, nanos, text) => {
          const base = new Date(seconds * 1000).toISOString().slice(0, 19);
          // Docker trims trailing zeros of the fraction, and drops it when it is zero.
          const fraction = String(nanos).padStart(9, '0').replace(/0+$/, '');
          const line = `${base}${fraction ? `.${fraction}` : ''}Z ${text}`;
          const ns = BigInt(seconds) * 1_000_000_000n + BigInt(nanos);
          expect(splitTimestamp(line)).toEqual({ ns, text });
          expect(sinceParam(ns)).toBe(`${seconds}.${String(nanos).padStart(9, '0')}`);
        },
      ),
    );
  });

  it('leave a line without a timestamp as it is', () => {
    expect(splitTimestamp('plain line')).toEqual({ ns: undefined, text: 'plain line' });
  });
});
