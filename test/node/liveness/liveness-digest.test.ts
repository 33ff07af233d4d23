import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  type DescribedPeer,
  type DigestFrame,
  DigestReader,
  DigestWriter,
  decodeDigest,
  encodeDigest,
  MAX_DIGEST_ENTRIES,
  MAX_SLOTS,
} from '../../../src/node/liveness/liveness-digest.js';

const A = '12D3KooWGzBuJt2Qd6v4TS3iSj6V7Pg3Rmmgm7xn4bjkWZcnpC1N';
const B = '12D3KooWNNqdSKiWpiAcfbEJLrfhSvs4Tk1srNRoosUyKrm2TDeU';
const peer = (peerId: string, beat: number, addresses = ['/ip4/10.0.0.1/tcp/4001']): DescribedPeer => ({
  peerId,
  incarnation: 1_700_000_000_000,
  beat,
  name: peerId === A ? 'gw-a' : 'gw-b',
  addresses,
});
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
/** A valid, distinct peer id per index. */
function idOf(i: number): string {
  let digits = '';
  for (let n = i; digits === '' || n > 0; n = Math.floor(n / 58)) digits = BASE58[n % 58] + digits;
  return `12D3KooW${digits.padStart(44, 'z')}`;
}

/** Writes `rounds` through encode and decode, as a stream carries them; returns what the reader resolved each time. */
function carry(rounds: readonly DescribedPeer[][], writer = new DigestWriter(), reader = new DigestReader()) {
  return rounds.map((peers) => {
    const decoded = decodeDigest(encodeDigest(writer.next(peers)));
    if (!decoded.ok) throw new Error(decoded.error);
    return reader.read(decoded.value);
  });
}

describe('liveness digest', () => {
  test('describes a peer once per stream, then carries only its beat, and describes it again when it changes', () => {
    const writer = new DigestWriter();
    const first = writer.next([peer(A, 1), peer(B, 1)]);
    expect(first.described.map((d) => d.name)).toEqual(['gw-a', 'gw-b']);
    expect(writer.next([peer(A, 2), peer(B, 2)])).toEqual({
      reset: false,
      relay: true,
      ownOnly: false,
      described: [],
      beats: [2, 2],
    });
    const moved = writer.next([peer(A, 3), peer(B, 3, ['/ip4/10.0.0.9/tcp/4001'])]);
    expect(moved.described).toMatchObject([{ slot: 1, peerId: B, addresses: ['/ip4/10.0.0.9/tcp/4001'] }]);
    // A peer that is no longer heard leaves a gap, not a shift: the other slots keep their meaning.
    expect(writer.next([peer(B, 4, ['/ip4/10.0.0.9/tcp/4001'])]).beats).toEqual([null, 4]);
  });

  test('the reader resolves every peer with its newest beat, descriptions included where given', () => {
    const [first, second] = carry([
      [peer(A, 1), peer(B, 5)],
      [peer(A, 2), peer(B, 6)],
    ]);
    expect(first).toEqual([peer(A, 1), peer(B, 5)]);
    expect(second).toEqual([
      { peerId: A, incarnation: 1_700_000_000_000, beat: 2 },
      { peerId: B, incarnation: 1_700_000_000_000, beat: 6 },
    ]);
  });

  test('a frame skipped by the reader loses its descriptions only until the reader asks for them again', () => {
    const writer = new DigestWriter();
    const reader = new DigestReader();
    writer.next([peer(A, 0)]); // skipped: the reader never saw A described
    const [passedOver] = carry([[peer(A, 1)]], writer, reader);
    expect(passedOver).toEqual([]);
    expect(reader.takeMissing()).toBe(true);
    expect(reader.takeMissing()).toBe(false);
    // The request travels in the reader's own frame on the link's other stream (liveness-exchange.ts).
    writer.describeAgain();
    const [healed, after] = carry([[peer(A, 2)], [peer(A, 3)]], writer, reader);
    expect(healed).toEqual([peer(A, 2)]);
    expect(after).toEqual([{ peerId: A, incarnation: peer(A, 3).incarnation, beat: 3 }]);
    expect(reader.takeMissing()).toBe(false);
  });

  test('no change, no descriptions: a steady stream describes its peers once in a hundred frames', () => {
    const writer = new DigestWriter();
    const frames = Array.from({ length: 100 }, (_, i) => writer.next([peer(A, i), peer(B, i)]));
    expect(frames.map((f) => f.described.length).filter((n) => n > 0)).toEqual([2]);
  });

  test('an own-beat frame answers a request with its own description and leaves the rest to the next full frame', () => {
    const writer = new DigestWriter();
    writer.next([peer(A, 1), peer(B, 1)]);
    writer.describeAgain();
    expect(writer.own(peer(A, 2), false).described.map((d) => d.peerId)).toEqual([A]);
    expect(writer.next([peer(A, 3), peer(B, 3)]).described.map((d) => d.peerId)).toEqual([A, B]);
    expect(writer.next([peer(A, 4), peer(B, 4)]).described).toEqual([]);
  });

  test('the describe-again flag survives the wire, and an unknown value is refused', () => {
    const frame: DigestFrame = {
      reset: false,
      relay: true,
      ownOnly: true,
      describeAgain: true,
      described: [],
      beats: [1],
    };
    expect(decodeDigest(encodeDigest(frame))).toMatchObject({ ok: true, value: { describeAgain: true } });
    const bad = new TextEncoder().encode(JSON.stringify({ v: 1, a: 2, d: [], b: [] }));
    expect(decodeDigest(bad)).toEqual({ ok: false, error: 'bad describe-again flag' });
  });

  test('any sequence of peer sets reaches the reader exactly, and slots stay bounded', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uniqueArray(fc.nat(300), { maxLength: 120 }), { minLength: 1, maxLength: 12 }),
        (rounds) => {
          const sets = rounds.map((ids, r) =>
            ids.map((i) => ({ ...peer(idOf(i), r * 1_000 + i), name: `n${i}` })),
          );
          const writer = new DigestWriter();
          const out = carry(sets, writer);
          out.forEach((entries, r) => {
            const got = new Map(entries.map((e) => [e.peerId, e.beat]));
            expect(got).toEqual(new Map(sets[r]!.map((p) => [p.peerId, p.beat])));
          });
          expect(writer.next([]).beats.length).toBeLessThanOrEqual(MAX_SLOTS);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('refuses what a decoder must not pass on, with a reason', () => {
    const bad = (value: unknown) => decodeDigest(new TextEncoder().encode(JSON.stringify(value)));
    const d = (slot: unknown, id: unknown, inc: unknown, name: unknown, addrs: unknown) => ({
      v: 1,
      d: [[slot, id, inc, name, addrs]],
      b: [],
    });
    expect(bad({ v: 2, d: [], b: [] })).toMatchObject({ ok: false, error: 'unknown version 2' });
    expect(bad({ v: 1, r: 2, d: [], b: [] })).toMatchObject({ ok: false, error: 'bad reset flag' });
    expect(bad({ v: 1, w: 'no', d: [], b: [] })).toMatchObject({ ok: false, error: 'bad relay flag' });
    expect(bad({ v: 1, o: 0, d: [], b: [] })).toMatchObject({ ok: false, error: 'bad own-beat flag' });
    expect(bad({ v: 1, d: [], b: [1.5] })).toMatchObject({ ok: false, error: 'bad beat' });
    expect(bad({ v: 1, d: [], b: Array(MAX_SLOTS + 1).fill(null) })).toMatchObject({
      error: 'bad beat list',
    });
    expect(bad(d(MAX_SLOTS, A, 1, 'n', []))).toMatchObject({ ok: false, error: 'bad slot' });
    expect(bad(d(0, 'not-a-peer', 1, 'n', []))).toMatchObject({ ok: false, error: 'bad peer id' });
    expect(bad(d(0, A, -1, 'n', []))).toMatchObject({ ok: false, error: 'bad incarnation' });
    expect(bad(d(0, A, 1, '', []))).toMatchObject({ ok: false, error: 'bad name' });
    expect(bad(d(0, A, 1, 'n', ['tcp']))).toMatchObject({ ok: false, error: 'bad addresses' });
    const many = { v: 1, d: Array(MAX_DIGEST_ENTRIES + 1).fill([0, A, 1, 'n', []]), b: [] };
    expect(bad(many)).toMatchObject({ ok: false, error: 'bad description list' });
  });

  test("an own-beat frame carries the sender alone and leaves the stream's other slots as they were", () => {
    const writer = new DigestWriter();
    const reader = new DigestReader();
    const read = (frame: DigestFrame) => {
      const decoded = decodeDigest(encodeDigest(frame));
      if (!decoded.ok) throw new Error(decoded.error);
      return {
        flags: { relay: decoded.value.relay, ownOnly: decoded.value.ownOnly },
        entries: reader.read(decoded.value),
      };
    };
    const peers = Array.from({ length: 100 }, (_, i) => ({ ...peer(idOf(i), i), name: `n${i}` }));
    read(writer.next(peers, false));
    const own = read(writer.own({ ...peers[0]!, beat: 500 }, false));
    expect(own.flags).toEqual({ relay: false, ownOnly: true });
    expect(own.entries).toEqual([{ peerId: idOf(0), incarnation: 1_700_000_000_000, beat: 500 }]);
    // Many own-beat frames later the next full frame still describes nobody: no reset, no refresh spent.
    for (let i = 0; i < 40; i++) read(writer.own({ ...peers[0]!, beat: 501 + i }, true));
    const full = writer.next(peers.map((p) => ({ ...p, beat: p.beat + 1000 })));
    expect(full.reset).toBe(false);
    expect(full.described).toEqual([]);
    expect(read(full).entries).toHaveLength(100);
  });

  test('a frame without the relay flag asks for relays, as every agent before the flag did', () => {
    const decoded = decodeDigest(new TextEncoder().encode(JSON.stringify({ v: 1, d: [], b: [] })));
    expect(decoded).toMatchObject({ ok: true, value: { relay: true, ownOnly: false } });
  });

  test('a thousand peers cost a few bytes each once described', () => {
    const peers = Array.from({ length: 1000 }, (_, i) => ({ ...peer(idOf(i), 40_000 + i), name: `n${i}` }));
    const writer = new DigestWriter();
    const described = encodeDigest(writer.next(peers)).length;
    const steady = encodeDigest(writer.next(peers.map((p) => ({ ...p, beat: p.beat + 1 })))).length;
    expect(steady).toBeLessThan(7 * 1000);
    expect(described).toBeGreaterThan(10 * steady);
  });
});
