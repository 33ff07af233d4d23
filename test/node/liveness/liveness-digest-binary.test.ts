import fc from 'fast-check';
import { expect, test } from 'vitest';
import {
  type DescribedPeer,
  DigestWriter,
  decodeDigest,
  encodeDigest,
} from '../../../src/node/liveness/liveness-digest.js';
import { decodeBinaryDigest, encodeBinaryDigest } from '../../../src/node/liveness/liveness-digest-binary.js';

const A = '12D3KooWGzBuJt2Qd6v4TS3iSj6V7Pg3Rmmgm7xn4bjkWZcnpC1N';
const peerAt = (peerId: string, beat: number): DescribedPeer => ({
  peerId,
  incarnation: 1_765_000_000_000,
  beat,
  name: 'gw-a',
  addresses: ['/ip4/10.0.0.1/tcp/4001'],
});
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const idOf = (i: number) => `12D3KooW${BASE58[i % 58]!.repeat(44)}`;

test('every frame the writer makes decodes to itself, and to what the JSON frame decodes to', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 57 }), fc.nat(1_000_000)), { maxLength: 30 }),
      fc.boolean(),
      fc.boolean(),
      (beats, relay, again) => {
        const writer = new DigestWriter();
        const peers = beats.map(([i, beat]) => ({ ...peerAt(idOf(i), beat), name: `n${i}` }));
        for (const frame of [writer.next(peers, relay), writer.own(peerAt(A, 7), relay)]) {
          const withFlag = { ...frame, describeAgain: again };
          const binary = decodeBinaryDigest(encodeBinaryDigest(withFlag));
          expect(binary).toEqual({ ok: true, value: withFlag });
          expect(binary).toEqual(decodeDigest(encodeDigest(withFlag)));
        }
      },
    ),
  );
});

test('an own beat is a few bytes, and a digest of twenty peers a few bytes a peer once described', () => {
  const writer = new DigestWriter();
  writer.own(peerAt(A, 1), false);
  expect(encodeBinaryDigest(writer.own(peerAt(A, 4_321), false)).length).toBeLessThanOrEqual(6);
  const twenty = (beat: number) => Array.from({ length: 20 }, (_, i) => peerAt(idOf(i), beat + i));
  const full = new DigestWriter();
  full.next(twenty(1));
  const steady = full.next(twenty(40_000));
  expect(encodeBinaryDigest(steady).length).toBeLessThanOrEqual(3 + 20 * 3);
  expect(encodeBinaryDigest(steady).length).toBeLessThan(encodeDigest(steady).length / 2);
});

test('refuses what a decoder must not pass on, with a reason', () => {
  const good = encodeBinaryDigest(new DigestWriter().next([peerAt(A, 3)]));
  expect(decodeBinaryDigest(good).ok).toBe(true);
  expect(decodeBinaryDigest(good.subarray(0, good.length - 1))).toMatchObject({ ok: false });
  expect(decodeBinaryDigest(new Uint8Array([...good, 0]))).toEqual({ ok: false, error: '1 trailing bytes' });
  expect(decodeBinaryDigest(new Uint8Array([0x10, 0, 0]))).toEqual({ ok: false, error: 'unknown flags' });
  const badId = encodeBinaryDigest({
    reset: false,
    relay: true,
    ownOnly: false,
    described: [{ slot: 0, peerId: 'not-a-peer', incarnation: 1, name: 'x', addresses: [] }],
    beats: [1],
  });
  expect(decodeBinaryDigest(badId)).toEqual({ ok: false, error: 'bad peer id' });
  // A count past the limit is refused before anything is read for it.
  expect(decodeBinaryDigest(new Uint8Array([0, 0, 0xff, 0xff, 0x03]))).toMatchObject({ ok: false });
  expect(decodeBinaryDigest(new Uint8Array(2 * 1024 * 1024))).toMatchObject({
    ok: false,
    error: /too large/,
  });
});
