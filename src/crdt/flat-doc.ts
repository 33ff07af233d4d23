import * as A from './automerge.js';

/**
 * Every document is one flat Automerge map: `epoch` plus string keys holding immutable JSON text. A flat root
 * means two documents created independently (two peers compacting concurrently) still merge as a union of keys,
 * where nested maps created on both sides would shadow each other. Values are whole JSON strings, not Automerge
 * objects: a record is written whole by its one writer, so field-level merging buys nothing and costs ops.
 */
export type FlatDoc = A.Doc<Record<string, unknown>>;

const EPOCH = 'epoch';

/** Automerge timestamps are seconds; the callers' clocks are milliseconds. */
const seconds = (nowMs: number): number => Math.floor(nowMs / 1000);

export function epochOf(doc: FlatDoc): number {
  const epoch = doc[EPOCH];
  return typeof epoch === 'number' && Number.isSafeInteger(epoch) && epoch >= 0 ? epoch : 0;
}

export function entriesOf(doc: FlatDoc): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(doc)) {
    if (key === EPOCH) continue;
    if (value instanceof A.ImmutableString) out.set(key, value.val);
    else if (typeof value === 'string') out.set(key, value);
  }
  return out;
}

export function freshDoc(
  actor: string,
  epoch: number,
  entries: Iterable<readonly [string, string]>,
  nowMs: number,
): FlatDoc {
  return A.change(A.init<Record<string, unknown>>({ actor }), { time: seconds(nowMs) }, (d) => {
    d[EPOCH] = epoch;
    for (const [key, value] of entries) d[key] = new A.ImmutableString(value);
  });
}

/** Writes puts and deletes as one change; returns the same document when nothing would change. */
export function writeEntries(
  doc: FlatDoc,
  puts: Iterable<readonly [string, string]>,
  deletes: Iterable<string>,
  nowMs: number,
): FlatDoc {
  const current = entriesOf(doc);
  const realPuts = [...puts].filter(([key, value]) => current.get(key) !== value);
  const realDeletes = [...deletes].filter((key) => current.has(key));
  if (realPuts.length === 0 && realDeletes.length === 0) return doc;
  return A.change(doc, { time: seconds(nowMs) }, (d) => {
    for (const [key, value] of realPuts) d[key] = new A.ImmutableString(value);
    for (const key of realDeletes) delete d[key];
  });
}

export function headsKey(doc: FlatDoc): string {
  return A.getHeads(doc).sort().join(',');
}
