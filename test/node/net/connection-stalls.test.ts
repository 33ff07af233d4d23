import type { Connection } from '@libp2p/interface';
import { expect, test } from 'vitest';
import { ConnectionStalls } from '../../../src/node/net/connection-stalls.js';

const connection = (id: string, open: number) => ({ id, timeline: { open } }) as unknown as Connection;

test('the newest connection is picked: the older ones are what a restart or an address change left behind', () => {
  const stalls = new ConnectionStalls(2);
  const leftBehind = connection('old', 1_000);
  const fresh = connection('fresh', 9_000);
  expect(stalls.pick([leftBehind, fresh])?.id).toBe('fresh');
  expect(stalls.pick([fresh, leftBehind])?.id).toBe('fresh');
});

test('a connection that stalled is passed over, and reported once it stalls the limit in a row', () => {
  const stalls = new ConnectionStalls(2);
  const older = connection('older', 1_000);
  const newer = connection('newer', 2_000);
  expect(stalls.record(newer, true)).toBe(false);
  expect(stalls.pick([older, newer])?.id).toBe('older');
  expect(stalls.record(newer, true)).toBe(true);
  // A session that moved clears the count.
  stalls.record(newer, false);
  expect(stalls.pick([older, newer])?.id).toBe('newer');
});

test('stall counts of closed connections are forgotten', () => {
  const stalls = new ConnectionStalls(2);
  const gone = connection('gone', 1_000);
  stalls.record(gone, true);
  expect(stalls.pick([connection('other', 500)])?.id).toBe('other');
  // The same id seen again (it never is in libp2p) starts from no stalls.
  expect(stalls.record(gone, true)).toBe(false);
});
