import { expect, test } from 'vitest';
import * as A from '../../src/crdt/automerge.js';

test('automerge slim entry works once the wasm is loaded', () => {
  const doc = A.change(A.init<{ n?: number }>(), (d) => {
    d.n = 1;
  });
  expect(A.load<{ n?: number }>(A.save(doc)).n).toBe(1);
});
