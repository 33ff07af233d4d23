import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { canonicalJson } from '../../src/crdt/canonical-json.js';
import { parseJson } from '../../src/crdt/json-text.js';

test('an escaped key reads back as itself after a parse that fills the key cache (nodejs/node#63785)', () => {
  // The parse V8 13.x caches a `\` key from; a later `"` key then came back as `\` from JSON.parse.
  parseJson('{"h":[],"\\\\":0}');
  expect(Object.keys(parseJson('{"h":1,"\\"":2}') as object)).toEqual(['h', '"']);
  parseJson('{"h":[],"\\\\":0}');
  expect(Object.keys(parseJson('{"h":1,"\\n":2}') as object)).toEqual(['h', '\n']);
});

test('any JSON text reads back as the value it was written from, escapes, duplicates and __proto__ included', () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue()),
      fc.jsonValue(),
      (obj, other) => {
        // Interleaved, so every property run starts from whatever the cache holds after the last one.
        for (const value of [obj, other]) {
          const text = JSON.stringify(value);
          expect(canonicalJson(parseJson(text))).toBe(canonicalJson(value));
          expect(canonicalJson(parseJson(JSON.stringify(value, null, 2)))).toBe(canonicalJson(value));
        }
      },
    ),
    { numRuns: 300 },
  );
  expect(parseJson('{"a":1,"a":2}')).toEqual({ a: 2 });
  expect(parseJson('{"a\\u0041":-0.5e1}')).toEqual({ aA: -5 });
  const own = parseJson('{"__proto__":{"x":"\\t"}}') as Record<string, unknown>;
  expect(Object.getPrototypeOf(own)).toBe(Object.prototype);
  expect(Object.keys(own)).toEqual(['__proto__']);
});

test('what JSON.parse refuses, parseJson refuses, with or without an escape in it', () => {
  const bad = ['{"a":1,}', '{"a\\x":1}', '["\\u12"]', '{"a":01}', '"tab\there"', '{"a" 1}', '[1]x', ''];
  for (const text of bad) {
    expect(() => JSON.parse(text), text).toThrow(SyntaxError);
    expect(() => parseJson(text), text).toThrow(SyntaxError);
  }
});

test('the source reads JSON only through parseJson', () => {
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (path.endsWith('.ts') && !path.endsWith('json-text.ts'))
        for (const [i, line] of readFileSync(path, 'utf8').split('\n').entries())
          if (/JSON\.parse\(/.test(line) && !/^\s*(\*|\/\/)/.test(line)) offenders.push(`${path}:${i + 1}`);
    }
  };
  walk(join(import.meta.dirname, '../../src'));
  expect(offenders).toEqual([]);
});
