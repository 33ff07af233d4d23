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

test('an own __proto__ key is data, kept like any other key', () => {
  const hostile = JSON.parse('{"b":1,"__proto__":{"polluted":true}}') as Record<string, unknown>;
  expect(canonicalJson(hostile)).toBe('{"__proto__":{"polluted":true},"b":1}');
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});
