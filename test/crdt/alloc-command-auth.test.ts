import fc from 'fast-check';
import { beforeAll, expect, test } from 'vitest';
import {
  type AllocCommand,
  allocCommandRejection,
  MAX_CLOCK_SKEW_MS,
  ReplayGuard,
  signAllocCommand,
} from '../../src/crdt/alloc-command-auth.js';
import { type TestKey, testKey } from '../support/keys.js';

let operator: TestKey;
let other: TestKey;
beforeAll(async () => {
  operator = await testKey();
  other = await testKey();
});

const NOW = 1_800_000_000_000;
const base: AllocCommand = {
  kind: 'exec',
  allocId: 'web.0.1.abcd',
  command: ['sh', '-c', 'id'],
  tty: false,
  at: NOW,
  nonce: '0123456789abcdef0123',
};

test('an operator signature counts; every field it covers is bound to it', () => {
  const auth = signAllocCommand(base, operator.id, operator.sign);
  const operators = new Set([operator.id]);
  expect(allocCommandRejection(base, auth, operators, NOW)).toBeUndefined();
  expect(allocCommandRejection(base, undefined, operators, NOW)).toMatch(/must be signed/);
  expect(allocCommandRejection(base, auth, new Set([other.id]), NOW)).toMatch(/not a trusted operator/);
  const altered: AllocCommand[] = [
    { ...base, kind: 'restart' },
    { ...base, allocId: 'web.1.1.abcd' },
    { ...base, command: ['sh', '-c', 'id', 'x'] },
    { ...base, command: ['sh', '-c id'] },
    { ...base, tty: true },
    { ...base, at: NOW + 1 },
    { ...base, nonce: '0123456789abcdef0124' },
  ];
  for (const c of altered) expect(allocCommandRejection(c, auth, operators, NOW)).toBe('forged signature');
  const byOther = signAllocCommand(base, other.id, other.sign);
  expect(allocCommandRejection(base, { ...byOther, signer: operator.id }, operators, NOW)).toBe(
    'forged signature',
  );
});

test('a signature is good only near the owner clock', () => {
  const operators = new Set([operator.id]);
  fc.assert(
    fc.property(fc.integer({ min: -3 * MAX_CLOCK_SKEW_MS, max: 3 * MAX_CLOCK_SKEW_MS }), (offset) => {
      const c = { ...base, at: NOW + offset };
      const rejection = allocCommandRejection(
        c,
        signAllocCommand(c, operator.id, operator.sign),
        operators,
        NOW,
      );
      expect(rejection === undefined).toBe(Math.abs(offset) <= MAX_CLOCK_SKEW_MS);
    }),
    { numRuns: 30 },
  );
});

test('each nonce once within the window; the guard stays bounded and forgets what has expired', () => {
  const guard = new ReplayGuard(3);
  expect(guard.admit('a', NOW, NOW)).toBe(true);
  expect(guard.admit('a', NOW, NOW + 1_000)).toBe(false);
  expect(guard.admit('b', NOW + 10, NOW)).toBe(true);
  expect(guard.admit('c', NOW - 10, NOW)).toBe(true);
  // Full, every nonce still inside the window: refused rather than forgotten.
  expect(guard.admit('d', NOW, NOW)).toBe(false);
  // Later, the old ones are outside the window (and would be refused for their time anyway): room again.
  const later = NOW + MAX_CLOCK_SKEW_MS + 1_000;
  expect(guard.admit('d', later, later)).toBe(true);
  expect(guard.admit('a', later, later)).toBe(true);
});
