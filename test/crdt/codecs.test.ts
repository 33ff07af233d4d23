import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  decodeGossip,
  encodeGossip,
  gossipMessageId,
  MAX_GOSSIP_BYTES,
} from '../../src/crdt/gossip-codec.js';
import { encodeDocRecord, frame, readDocRecords, scanRecords } from '../../src/crdt/storage-format.js';
import { decodeSyncFrame } from '../../src/crdt/sync-codec.js';
import { replica, spec } from './replicas.js';

describe('gossip codec', () => {
  const message = () => replica('a').submitJob('web', spec('img:1'), 'op', 0).publish[0]!;

  test('round-trips a message and names it by its content', () => {
    const encoded = encodeGossip(message());
    if (!encoded.ok) throw new Error(encoded.error);
    expect(decodeGossip(encoded.value)).toEqual({ ok: true, value: message() });
    expect(gossipMessageId(encoded.value)).toEqual(gossipMessageId(encoded.value.slice()));
    const other = encodeGossip({ ...message(), epoch: 1 });
    expect(other.ok && gossipMessageId(other.value)).not.toEqual(gossipMessageId(encoded.value));
  });

  test('rejects oversized, unknown-version, bad-id and non-Automerge messages', () => {
    const big = encodeGossip({ ...message(), changes: [new Uint8Array(MAX_GOSSIP_BYTES)] });
    expect(big.ok).toBe(false);
    const good = encodeGossip(message());
    if (!good.ok) throw new Error(good.error);
    const versioned = good.value.slice();
    versioned[0] = 9;
    expect(decodeGossip(versioned)).toMatchObject({ ok: false, error: /version/ });
    const badId = encodeGossip({ ...message(), docId: 'job/Not_Valid' as 'job/x' });
    expect(badId.ok && decodeGossip(badId.value)).toMatchObject({ ok: false, error: /document id/ });
    const junk = encodeGossip({ ...message(), changes: [new Uint8Array([1, 2, 3, 4])] });
    expect(junk.ok && decodeGossip(junk.value)).toMatchObject({ ok: false, error: /Automerge/ });
    expect(decodeGossip(new Uint8Array(MAX_GOSSIP_BYTES + 1)).ok).toBe(false);
  });

  test('arbitrary bytes never throw, in any decoder', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(decodeGossip(bytes).ok).toBe(false);
        decodeSyncFrame(bytes);
        readDocRecords(bytes);
      }),
    );
  });
});

describe('storage format', () => {
  const payloads = fc.array(fc.uint8Array({ minLength: 0, maxLength: 200 }), { maxLength: 12 });

  test('a cut anywhere keeps every record that ends before the cut', () => {
    fc.assert(
      fc.property(payloads, fc.nat(), (list, cutSeed) => {
        const framed = list.map(frame);
        const whole = Buffer.concat(framed);
        const cut = whole.length === 0 ? 0 : cutSeed % (whole.length + 1);
        let complete = 0;
        let boundary = 0;
        while (complete < framed.length && boundary + framed[complete]!.length <= cut) {
          boundary += framed[complete]!.length;
          complete++;
        }
        const { records, skipped } = scanRecords(new Uint8Array(whole.subarray(0, cut)));
        expect(records.map((r) => Buffer.from(r.payload))).toEqual(
          list.slice(0, complete).map((p) => Buffer.from(p)),
        );
        expect(skipped.length).toBe(cut > boundary ? 1 : 0);
      }),
    );
  });

  test('garbage between records and a flipped byte cost only what they touch', () => {
    fc.assert(
      fc.property(payloads, fc.uint8Array({ minLength: 1, maxLength: 50 }), fc.nat(), (list, junk, at) => {
        fc.pre(!Buffer.from(junk).includes(Buffer.from('MyC1')));
        const framed = list.map(frame);
        const index = list.length === 0 ? 0 : at % list.length;
        const bytes = Buffer.concat([...framed.slice(0, index), junk, ...framed.slice(index)]);
        expect(scanRecords(new Uint8Array(bytes)).records).toHaveLength(list.length);
        if (list.length === 0 || list[index]!.length === 0) return;
        const flipped = Buffer.concat(framed);
        const offset = framed.slice(0, index).reduce((n, f) => n + f.length, 0) + 12;
        flipped[offset] = (flipped[offset] ?? 0) ^ 0x01;
        const { records, skipped } = scanRecords(new Uint8Array(flipped));
        expect(records).toHaveLength(list.length - 1);
        expect(skipped.map((s) => s.reason)).toEqual(['checksum']);
      }),
    );
  });

  test('document records round-trip; undecodable payloads are reported, not thrown', () => {
    const doc = { docId: 'node/abc' as const, epoch: 3, bytes: new Uint8Array([1, 2, 3]) };
    const bytes = Buffer.concat([encodeDocRecord(doc), frame(new Uint8Array([7, 7]))]);
    const read = readDocRecords(new Uint8Array(bytes));
    expect(read.docs).toEqual([doc]);
    expect(read.skipped).toEqual([expect.objectContaining({ reason: 'undecodable' })]);
  });
});
