import { expect, test } from 'vitest';
import { QUIET, withKeepAlive } from '../../src/lib/keep-alive.js';

test('values pass through, QUIET marks each quiet stretch, and stopping closes the source', async () => {
  let closed = false;
  async function* source() {
    try {
      yield 1;
      await new Promise((r) => setTimeout(r, 70));
      yield 2;
      yield 3;
    } finally {
      closed = true;
    }
  }
  const seen: (number | typeof QUIET)[] = [];
  for await (const value of withKeepAlive(source(), 20)) {
    seen.push(value);
    if (value === 2) break;
  }
  expect(seen[0]).toBe(1);
  expect(seen.at(-1)).toBe(2);
  // The 70 ms between 1 and 2 were marked quiet, each 20 ms.
  expect(seen.slice(1, -1).length).toBeGreaterThanOrEqual(2);
  expect(seen.slice(1, -1).every((v) => v === QUIET)).toBe(true);
  expect(closed).toBe(true);
});
