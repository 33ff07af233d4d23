import fc from 'fast-check';
import { expect, test } from 'vitest';
import { canonicalJson } from '../../src/crdt/canonical-json.js';

test('key order does not change the canonical form', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
      const reversed = Object.fromEntries(Object.entries(obj).reverse());
      expect(canonicalJson(reversed)).toBe(canonicalJson(obj));
      expect(JSON.parse(canonicalJson(obj))).toEqual(JSON.parse(JSON.stringify(obj)));
    }),
  );
});

test('undefined members are dropped and non-finite numbers refused', () => {
  expect(canonicalJson({ b: 1, a: undefined, c: [undefined] })).toBe('{"b":1,"c":[null]}');
  expect(() => canonicalJson({ a: Number.NaN })).toThrow(/not JSON/);
});
