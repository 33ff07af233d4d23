import fc from 'fast-check';
import { expect, test } from 'vitest';
import { backoffDelay } from '../../src/lib/backoff.js';

const policy = { baseMs: 500, capMs: 60_000 };

test('grows exponentially, never exceeds the cap, never drops below half the step', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 64 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (failures, r) => {
        const step = Math.min(policy.capMs, policy.baseMs * 2 ** (failures - 1));
        const delay = backoffDelay(failures, policy, r);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(step / 2));
        expect(delay).toBeLessThanOrEqual(policy.capMs);
      },
    ),
  );
  expect(backoffDelay(1, policy, 1)).toBe(500);
  expect(backoffDelay(4, policy, 1)).toBe(4_000);
  expect(backoffDelay(30, policy, 0)).toBe(30_000);
});
