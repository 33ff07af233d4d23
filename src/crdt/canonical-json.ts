/**
 * Deterministic JSON: object keys sorted, `undefined` members dropped. Content hashes of specs and the bytes
 * operators sign are computed over this form, so two devices always agree on them.
 *
 * "Sorted" is JavaScript's own-key order of an object built in sorted order, which is what a verifier in another
 * language must reproduce: keys that are array indices (canonical decimal integers 0 to 2^32-2, such as "9" and
 * "10" but not "01" or "-1") come first in numeric order, then the others by UTF-16 code unit (RFC 8785's order).
 * Changing it would change the bytes of every signature over an object with such a key.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : sortKeys(item)));
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError(`not JSON: ${value}`);
    return value;
  }
  // No prototype: an own "__proto__" key (hostile or not) must be kept as data, not set the object's prototype.
  const out: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value).sort()) {
    const member = (value as Record<string, unknown>)[key];
    if (member !== undefined) out[key] = sortKeys(member);
  }
  return out;
}
