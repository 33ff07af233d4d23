import { err, ok, type Result } from '../lib/result.js';
import * as A from './automerge.js';

/**
 * Checks that untrusted bytes are one intact, canonically encoded Automerge change. Automerge takes in changes it
 * cannot reproduce: `A.decodeChange` ignores the checksum in the header, `A.applyChanges` queues a change whose
 * dependencies are missing without checking it, and a change with a valid checksum but a non-canonical encoding
 * is applied as is. `A.save` then writes such a change out and `A.load` refuses the whole document ("bad
 * checksum", "mismatching heads"): one hostile gossip message made a job's document unloadable after the next
 * restart, and unusable as a snapshot for every peer. The header checksum is the first four bytes of the hash.
 */
const MAGIC = [0x85, 0x6f, 0x4a, 0x83];
const HEADER = 8;
const DOCUMENT_CHUNK = 0;
const COMPRESSED_CHANGE_CHUNK = 2;
/**
 * Op counters of a document compacted every few dozen changes stay tiny; a change claiming a start op near 2^32
 * was applied, and `A.load` of the saved document then ran out of memory.
 */
const MAX_OP_COUNTER = 1 << 24;

type DecodedChange = ReturnType<typeof A.decodeChange>;

export function checkChange(bytes: Uint8Array): Result<DecodedChange> {
  if (bytes.length <= HEADER || MAGIC.some((b, i) => bytes[i] !== b)) return err('not an Automerge change');
  let decoded: DecodedChange;
  try {
    decoded = A.decodeChange(bytes);
  } catch (e) {
    return err(`undecodable change: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!(decoded.startOp <= MAX_OP_COUNTER && decoded.seq <= MAX_OP_COUNTER))
    return err(`change counters out of range (seq ${decoded.seq}, start op ${decoded.startOp})`);
  const checksum = Buffer.from(bytes.buffer, bytes.byteOffset + 4, 4).toString('hex');
  if (typeof decoded.hash !== 'string' || !decoded.hash.startsWith(checksum))
    return err('change checksum does not match its content');
  // A compressed change re-encodes uncompressed: its checksum above is what is left to check.
  if (bytes[8] === COMPRESSED_CHANGE_CHUNK) return ok(decoded);
  // A change that does not re-encode to itself gets another hash once a saved document is loaded again, and
  // A.load then refuses the document ("mismatching heads"): only canonical changes are let in.
  let again: Uint8Array;
  try {
    again = A.encodeChange(decoded);
  } catch {
    return err('change does not re-encode');
  }
  if (!Buffer.from(again).equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)))
    return err('change is not canonically encoded');
  return ok(decoded);
}

/**
 * Checks an Automerge sync message from a peer before Automerge sees it: every change in it as above (or, for a
 * whole document, that it loads), and every
 * Bloom filter well-formed. A filter claiming entries with zero bits per entry was stored in the sync state, and
 * the next `A.generateSyncMessage` panicked inside the WebAssembly ("remainder with a divisor of zero").
 */
export function checkSyncMessage(bytes: Uint8Array): Result<void> {
  let message: ReturnType<typeof A.decodeSyncMessage>;
  try {
    message = A.decodeSyncMessage(bytes);
  } catch (e) {
    return err(`undecodable sync message: ${e instanceof Error ? e.message : String(e)}`);
  }
  for (const have of message.have) {
    const bloom = bloomHeader(have.bloom);
    if (!bloom.ok) return bloom;
  }
  for (const item of message.changes) {
    const chunks = splitChunks(item);
    if (!chunks.ok) return chunks;
    for (const chunk of chunks.value) {
      const checked = chunk[8] === DOCUMENT_CHUNK ? checkDocument(chunk) : checkChange(chunk);
      if (!checked.ok) return checked;
    }
  }
  return ok(undefined);
}

/** One entry of a sync message's changes may hold several chunks back to back. */
function splitChunks(bytes: Uint8Array): Result<Uint8Array[]> {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (MAGIC.some((b, i) => bytes[at + i] !== b)) return err('not an Automerge chunk');
    let end = at + 9;
    let length = 0;
    for (let scale = 1; ; scale *= 0x80) {
      const byte = bytes[end++];
      if (byte === undefined || scale > 2 ** 28) return err('bad chunk length');
      length += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
    }
    if (end + length > bytes.length) return err('truncated chunk');
    out.push(bytes.subarray(at, end + length));
    at = end + length;
  }
  return ok(out);
}

/** A whole document inside a sync message (Automerge sends one to a peer that has nothing): it must load. */
function checkDocument(bytes: Uint8Array): Result<void> {
  try {
    A.load(bytes);
    return ok(undefined);
  } catch (e) {
    return err(`unloadable document: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function bloomHeader(bytes: Uint8Array): Result<void> {
  if (bytes.length === 0) return ok(undefined);
  const fields: number[] = [];
  let at = 0;
  for (let field = 0; field < 3; field++) {
    let value = 0;
    for (let scale = 1; ; scale *= 0x80) {
      const byte = bytes[at++];
      if (byte === undefined || scale > 2 ** 28) return err('bad Bloom filter header');
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
    }
    fields.push(value);
  }
  const [entries = 0, bitsPerEntry = 0, probes = 0] = fields;
  if (entries > 0 && (bitsPerEntry === 0 || probes === 0)) return err('Bloom filter without bits or probes');
  return ok(undefined);
}
