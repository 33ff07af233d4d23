import { parse } from 'lossless-json';

/**
 * JSON.parse, made safe from a V8 bug: in Node 24 (V8 13.x, and still in 14.6) JSON.parse can decode an
 * escaped object key as a different key once an earlier parse put a similar key in V8's key cache
 * (nodejs/node#63785): after `{"\\":0}` has been parsed, the key in `{"h":1,"\"":2}` reads back as `\`.
 * Signatures cover the canonical form of parsed values and placement must be the same on every device, so a
 * key that depends on what this process parsed before is a correctness bug, and a peer could trigger it on
 * purpose. An escape needs a backslash: texts without one (nearly all) keep the native parser; the rest go
 * through lossless-json's parser, which decodes in JavaScript, with JSON.parse's semantics kept (plain
 * numbers, the last of duplicate keys wins, `__proto__` an own key).
 */
export function parseJson(text: string): unknown {
  if (!text.includes('\\')) return JSON.parse(text);
  return parse(text, null, {
    parseNumber: Number,
    onDuplicateKey: ({ newValue }) => newValue,
  });
}
