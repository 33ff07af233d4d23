import type { Result } from '../lib/result.js';
import { ByteWriter, decodeAll } from './byte-codec.js';
import { crc32 } from './crc32.js';
import { type DocId, isDocId } from './doc-id.js';

/**
 * On-disk framing of the state files: `magic "MyC1" | payload length u32le | crc32(payload) u32le | payload`.
 * A torn write, a bit flip or foreign bytes spoil only the records they touch: the scan skips to the next magic
 * that starts a record with a valid checksum, and says what it skipped.
 */
const MAGIC = Uint8Array.from([0x4d, 0x79, 0x43, 0x31]);
const HEADER = 12;
export const MAX_RECORD = 64 * 1024 * 1024;
const FORMAT = 1;

export interface StoredDoc {
  readonly docId: DocId;
  readonly epoch: number;
  /** A.save() output or an A.saveSince() chunk: both load with A.loadIncremental. */
  readonly bytes: Uint8Array;
}

export interface Skipped {
  readonly offset: number;
  readonly length: number;
  readonly reason: 'truncated' | 'checksum' | 'garbage' | 'undecodable';
}

export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + payload.length);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(4, payload.length, true);
  view.setUint32(8, crc32(payload), true);
  out.set(payload, HEADER);
  return out;
}

function magicAt(bytes: Uint8Array, at: number): boolean {
  return at + 4 <= bytes.length && MAGIC.every((b, i) => bytes[at + i] === b);
}

function nextMagic(bytes: Uint8Array, from: number): number {
  for (let at = from; at + 4 <= bytes.length; at++) if (magicAt(bytes, at)) return at;
  return bytes.length;
}

export function scanRecords(bytes: Uint8Array): {
  records: { offset: number; payload: Uint8Array }[];
  skipped: Skipped[];
} {
  const records: { offset: number; payload: Uint8Array }[] = [];
  const skipped: Skipped[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    if (!magicAt(bytes, at)) {
      const next = nextMagic(bytes, at + 1);
      skipped.push({
        offset: at,
        length: next - at,
        reason: next === bytes.length ? 'truncated' : 'garbage',
      });
      at = next;
      continue;
    }
    const length = at + HEADER <= bytes.length ? view.getUint32(at + 4, true) : Number.POSITIVE_INFINITY;
    const end = at + HEADER + length;
    if (length <= MAX_RECORD && end <= bytes.length) {
      const payload = bytes.subarray(at + HEADER, end);
      if (crc32(payload) === view.getUint32(at + 8, true)) {
        records.push({ offset: at, payload });
        at = end;
        continue;
      }
    }
    const next = nextMagic(bytes, at + 1);
    const reason = end > bytes.length && next === bytes.length ? 'truncated' : 'checksum';
    skipped.push({ offset: at, length: next - at, reason });
    at = next;
  }
  return { records, skipped };
}

export function encodeDocRecord(doc: StoredDoc): Uint8Array {
  return frame(new ByteWriter().u8(FORMAT).string(doc.docId).varint(doc.epoch).blob(doc.bytes).finish());
}

export function decodeDocRecord(payload: Uint8Array): Result<StoredDoc> {
  return decodeAll(payload, (reader) => {
    if (reader.u8() !== FORMAT) reader.fail('unknown record format');
    const docId = reader.string(256);
    if (!isDocId(docId)) return reader.fail(`invalid document id ${JSON.stringify(docId)}`);
    return { docId, epoch: reader.varint(), bytes: reader.blob(MAX_RECORD).slice() };
  });
}

/** Every intact document record in a state file, and what could not be used. */
export function readDocRecords(bytes: Uint8Array): { docs: StoredDoc[]; skipped: Skipped[] } {
  const { records, skipped } = scanRecords(bytes);
  const docs: StoredDoc[] = [];
  for (const { offset, payload } of records) {
    const decoded = decodeDocRecord(payload);
    if (decoded.ok) docs.push(decoded.value);
    else skipped.push({ offset, length: HEADER + payload.length, reason: 'undecodable' });
  }
  return { docs, skipped };
}
