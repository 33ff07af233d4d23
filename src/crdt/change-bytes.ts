import * as A from './automerge.js';
import { err, ok, type Result } from './result.js';

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
