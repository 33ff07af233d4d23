import type { Result } from '../lib/result.js';
import { type ByteReader, ByteWriter, decodeAll } from './byte-codec.js';
import { type DocId, isDocId } from './doc-id.js';

/**
 * Frames of the anti-entropy stream. `hello` carries one digest of the sender's whole state so that peers that
 * already agree finish in one round trip; `round` carries the sender's summary (once), whole documents the other
 * side lacks, Automerge sync messages for documents both hold at the same epoch, and requests for documents.
 */
export const SYNC_VERSION = 1;
export const MAX_SYNC_FRAME = 4 * 1024 * 1024;
const MAX_DOC_ID = 256;
const MAX_ITEMS = 1_000_000;
export const SHORT_DIGEST = 8;

export interface SummaryEntry {
  /** First bytes of sha256(docId): a summary of 10,000 documents stays around 200 KB. */
  readonly idHash: Uint8Array;
  readonly epoch: number;
  readonly headsDigest: Uint8Array;
}

export interface DocBytes {
  readonly docId: DocId;
  readonly epoch: number;
  readonly bytes: Uint8Array;
}

export type SyncFrame =
  | { readonly kind: 'hello'; readonly digest: Uint8Array }
  | {
      readonly kind: 'round';
      readonly summary: readonly SummaryEntry[] | undefined;
      readonly snapshots: readonly DocBytes[];
      readonly syncs: readonly DocBytes[];
      readonly wants: readonly DocId[];
    }
  | { readonly kind: 'bye' };

const KIND = { hello: 1, round: 2, bye: 3 } as const;

export function encodeSyncFrame(frame: SyncFrame): Uint8Array {
  const writer = new ByteWriter().u8(SYNC_VERSION).u8(KIND[frame.kind]);
  if (frame.kind === 'hello') writer.blob(frame.digest);
  if (frame.kind === 'round') {
    writer.u8(frame.summary ? 1 : 0);
    if (frame.summary) {
      writer.varint(frame.summary.length);
      for (const e of frame.summary) writer.raw(e.idHash).varint(e.epoch).raw(e.headsDigest);
    }
    for (const list of [frame.snapshots, frame.syncs]) {
      writer.varint(list.length);
      for (const item of list) writer.string(item.docId).varint(item.epoch).blob(item.bytes);
    }
    writer.varint(frame.wants.length);
    for (const docId of frame.wants) writer.string(docId);
  }
  return writer.finish();
}

function docId(reader: ByteReader): DocId {
  const text = reader.string(MAX_DOC_ID);
  return isDocId(text) ? text : reader.fail(`invalid document id ${JSON.stringify(text)}`);
}

function docBytes(reader: ByteReader): DocBytes[] {
  const count = reader.varint(MAX_ITEMS);
  const out: DocBytes[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ docId: docId(reader), epoch: reader.varint(), bytes: reader.blob(MAX_SYNC_FRAME).slice() });
  }
  return out;
}

export function decodeSyncFrame(bytes: Uint8Array): Result<SyncFrame> {
  if (bytes.length > MAX_SYNC_FRAME)
    return { ok: false, error: `frame of ${bytes.length} bytes is too large` };
  return decodeAll(bytes, (reader): SyncFrame => {
    const version = reader.u8();
    if (version !== SYNC_VERSION) reader.fail(`unknown sync version ${version}`);
    const kind = reader.u8();
    if (kind === KIND.hello) return { kind: 'hello', digest: reader.blob(32).slice() };
    if (kind === KIND.bye) return { kind: 'bye' };
    if (kind !== KIND.round) reader.fail(`unknown frame kind ${kind}`);
    let summary: SummaryEntry[] | undefined;
    const hasSummary = reader.u8();
    if (hasSummary > 1) reader.fail('bad summary flag');
    if (hasSummary === 1) {
      summary = [];
      const count = reader.varint(MAX_ITEMS);
      for (let i = 0; i < count; i++) {
        const idHash = fixed(reader);
        summary.push({ idHash, epoch: reader.varint(), headsDigest: fixed(reader) });
      }
    }
    const snapshots = docBytes(reader);
    const syncs = docBytes(reader);
    const wants: DocId[] = [];
    const count = reader.varint(MAX_ITEMS);
    for (let i = 0; i < count; i++) wants.push(docId(reader));
    return { kind: 'round', summary, snapshots, syncs, wants };
  });
}

function fixed(reader: ByteReader): Uint8Array {
  const out = new Uint8Array(SHORT_DIGEST);
  for (let i = 0; i < SHORT_DIGEST; i++) out[i] = reader.u8();
  return out;
}
