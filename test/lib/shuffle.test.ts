import { expect, it } from 'vitest';
import { compareText } from '../../src/lib/compare-text.js';
import { shuffle } from '../../src/lib/shuffle.js';

it('shuffle is a permutation decided by the given random', () => {
  const items = ['a', 'b', 'c', 'd'];
  // random() = 0 always swaps with the first: every element moves one place right, the last to the front.
  expect(shuffle([...items], () => 0)).toEqual(['b', 'c', 'd', 'a']);
  // Just under 1 always swaps an element with itself.
  expect(shuffle([...items], () => 0.999_999)).toEqual(items);
  expect(shuffle([], () => 0)).toEqual([]);
});

it('compareText orders by code unit, not by locale', () => {
  expect(['b', 'B', 'a', 'é', 'e'].sort(compareText)).toEqual(['B', 'a', 'b', 'e', 'é']);
  expect(compareText('x', 'x')).toBe(0);
});
