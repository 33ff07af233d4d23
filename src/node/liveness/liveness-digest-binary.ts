import { ByteWriter, decodeAll } from '../../crdt/byte-codec.js';
import type { Result } from '../../lib/result.js';
import {
  type DigestFrame,
  decodeDescription,
  MAX_ADDRESSES,
  MAX_DIGEST_BYTES,
  MAX_DIGEST_ENTRIES,
  MAX_SLOTS,
  type SlotDescription,
} from './liveness-digest.js';

/**
 * The digest frame of `/mycel/liveness/2.0.0`, the same frame as liveness-digest.ts's JSON in varints: an own beat
 * is 5 bytes instead of 38, a beat in a digest of every peer 2-3 bytes instead of 5-7. Idle, these frames are most
 * of what an agent sends (bench:idle-traffic), and each is sent to every neighbour every interval.
 *
 * `flags, described count, [slot, peer id, incarnation, name, address count, addresses...]..., beat count,
 * (beat + 1 | 0 for none)...`; flags: 1 reset, 2 do not relay to me, 4 own beat only, 8 describe every peer again.
 */
const FLAG = { reset: 1, noRelay: 2, ownOnly: 4, describeAgain: 8 } as const;
const ALL_FLAGS = FLAG.reset | FLAG.noRelay | FLAG.ownOnly | FLAG.describeAgain;
/** Longer fields are refused by decodeDescription anyway; these bound what is read before it looks. */
const MAX_FIELD_BYTES = 256;

export function encodeBinaryDigest(frame: DigestFrame): Uint8Array {
  const w = new ByteWriter();
  w.u8(
    (frame.reset ? FLAG.reset : 0) |
      (frame.relay ? 0 : FLAG.noRelay) |
      (frame.ownOnly ? FLAG.ownOnly : 0) |
      (frame.describeAgain ? FLAG.describeAgain : 0),
  );
  w.varint(frame.described.length);
  for (const d of frame.described) {
    const addresses = d.addresses.slice(0, MAX_ADDRESSES);
    w.varint(d.slot).string(d.peerId).varint(d.incarnation).string(d.name).varint(addresses.length);
    for (const a of addresses) w.string(a);
  }
  w.varint(frame.beats.length);
  for (const beat of frame.beats) w.varint(beat === null ? 0 : beat + 1);
  const bytes = w.finish();
  if (bytes.length > MAX_DIGEST_BYTES) throw new Error(`digest of ${bytes.length} bytes exceeds the limit`);
  return bytes;
}

export function decodeBinaryDigest(bytes: Uint8Array): Result<DigestFrame> {
  if (bytes.length > MAX_DIGEST_BYTES) return { ok: false, error: `too large: ${bytes.length} bytes` };
  return decodeAll(bytes, (r) => {
    const flags = r.u8();
    if ((flags & ~ALL_FLAGS) !== 0) r.fail('unknown flags');
    const described: SlotDescription[] = [];
    const count = r.varint(MAX_DIGEST_ENTRIES);
    for (let i = 0; i < count; i++) {
      const slot = r.varint();
      const peerId = r.string(MAX_FIELD_BYTES);
      const incarnation = r.varint();
      const name = r.string(MAX_FIELD_BYTES);
      const addresses = Array.from({ length: r.varint(MAX_ADDRESSES) }, () => r.string(MAX_FIELD_BYTES));
      const description = decodeDescription([slot, peerId, incarnation, name, addresses]);
      if (typeof description === 'string') return r.fail(description);
      described.push(description);
    }
    const beats = Array.from({ length: r.varint(MAX_SLOTS) }, () => {
      const beat = r.varint();
      return beat === 0 ? null : beat - 1;
    });
    return {
      reset: (flags & FLAG.reset) !== 0,
      relay: (flags & FLAG.noRelay) === 0,
      ownOnly: (flags & FLAG.ownOnly) !== 0,
      describeAgain: (flags & FLAG.describeAgain) !== 0,
      described,
      beats,
    };
  });
}
