import fc from 'fast-check';
import { expect, test } from 'vitest';
import { allocId, parseAllocId } from '../../src/scheduler/alloc-id.js';
import { finish, HASH_SEED, mixString } from '../../src/scheduler/hash.js';

const jobName = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);

test('an alloc id names its job, slot and generation', () => {
  fc.assert(
    fc.property(
      jobName,
      fc.nat(),
      fc.nat(1000),
      fc.nat(50),
      fc.string(),
      (job, version, slot, generation, node) => {
        expect(parseAllocId(allocId(job, version, slot, generation, node))).toEqual({
          job,
          slot,
          generation,
        });
      },
    ),
  );
});

test('copies of one slot differ when their node, version or generation does', () => {
  const base = allocId('web', 1, 0, 1, 'node-a');
  expect(allocId('web', 1, 0, 1, 'node-a')).toBe(base);
  for (const other of [
    allocId('web', 1, 0, 1, 'node-b'),
    allocId('web', 2, 0, 1, 'node-a'),
    allocId('web', 1, 0, 2, 'node-a'),
  ]) {
    expect(other).not.toBe(base);
  }
});

test.each([
  'web',
  'web.0.0',
  'web.0.0.abc',
  'web.00.0.0123abcd',
  'web.0.-1.0123abcd',
  'web.0.0.0123ABCD',
  '.0.0.0123abcd',
  'a.b.0.0.0123abcd',
  'web.0.0.0123abcd.',
])('%s is not an id the scheduler names', (id) => {
  expect(parseAllocId(id)).toBeUndefined();
});

test('sequential names land spread over the ring', () => {
  const positions = Array.from({ length: 1000 }, (_, i) => finish(mixString(HASH_SEED, `node-${i}`))).sort(
    (a, b) => a - b,
  );
  let widest = 2 ** 32 - positions.at(-1)! + positions[0]!;
  for (let i = 1; i < positions.length; i++) widest = Math.max(widest, positions[i]! - positions[i - 1]!);
  // An even spread leaves gaps of 2^32/1000; a random one rarely one ten times that.
  expect(widest).toBeLessThan((10 * 2 ** 32) / 1000);
  expect(new Set(positions).size).toBe(1000);
});
