/** Total orders over the scheduler's input, so that arrival order never reaches the output. */
import { canonicalJson } from '../crdt/canonical-json.js';

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorted by key; of two items with one key, the one with the greater canonical JSON, whatever came first. */
export function canonical<T>(items: readonly T[], key: (item: T) => string): T[] {
  const sorted = [...items].sort((a, b) => compareStrings(key(a), key(b)));
  const out: T[] = [];
  for (const item of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && key(last) === key(item)) {
      if (canonicalJson(item) > canonicalJson(last)) out[out.length - 1] = item;
    } else {
      out.push(item);
    }
  }
  return out;
}
