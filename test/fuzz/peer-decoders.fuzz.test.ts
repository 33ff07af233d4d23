import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  type DigestFrame,
  DigestReader,
  decodeDigest,
  encodeDigest,
  MAX_DIGEST_BYTES,
  MAX_DIGEST_ENTRIES,
  MAX_SLOTS,
} from '../../src/node/liveness/liveness-digest.js';
import { decodePeers, type ExchangedPeer } from '../../src/node/net/peer-exchange.js';
import { FUZZ_RUNS, FUZZ_TIMEOUT_MS, mutatedFrom } from './mutate.js';

/**
 * The two JSON decoders every connected peer can reach: liveness digests and peer-exchange answers.
 * Mutations of valid encodings, JSON built to hurt (deep nesting, huge numbers and strings, prototype keys), and
 * random bytes: both answer with a value or an error, never a throw, and what they accept satisfies the limits
 * the rest of the agent relies on.
 */
const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const PEER = '12D3KooWGzBuJt2Qd6v4TS3iSj6V7Pg3Rmmgm7xn4bjkWZcnpC1N';

const digests: Uint8Array[] = [
  encodeDigest({
    reset: true,
    relay: true,
    ownOnly: false,
    described: [
      {
        slot: 0,
        peerId: PEER,
        incarnation: 1_700_000_000_000,
        name: 'gw-1',
        addresses: ['/ip4/10.0.0.1/tcp/4001'],
      },
    ],
    beats: [42, null, 7],
  }),
  encodeDigest({ reset: false, relay: false, ownOnly: true, described: [], beats: [3] }),
];
const peerLists: Uint8Array[] = [
  text([{ peerId: PEER, addresses: ['/ip4/127.0.0.1/tcp/4001', '/ip6/::1/tcp/4001'] }]),
  text([]),
];

/** JSON that is valid but shaped to hurt a careless decoder. */
const hostileJson: fc.Arbitrary<Uint8Array> = fc
  .oneof(
    fc.nat(20_000).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
    fc.nat(8_000).map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
    fc.constantFrom(
      '{"__proto__":{"v":1},"v":1,"n":"x","i":0,"s":0,"a":[]}',
      '{"v":1,"n":"x","i":1e400,"s":0,"a":[]}',
      '{"v":1,"n":"x","i":-0,"s":0,"a":[]}',
      '{"v":1,"n":"x","i":0,"s":0,"a":{"length":1,"0":"/x"}}',
      `[{"peerId":"${PEER}","addresses":{"length":1}}]`,
      `[null,{"peerId":"${PEER}","addresses":[]}]`,
      '[{"constructor":{"prototype":{}}}]',
    ),
    fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)),
    fc
      .record({
        v: fc.oneof(fc.constant(1), fc.jsonValue()),
        n: fc.oneof(fc.string({ maxLength: 70 }), fc.jsonValue()),
        i: fc.oneof(fc.double(), fc.integer(), fc.jsonValue()),
        s: fc.oneof(fc.double(), fc.nat(), fc.jsonValue()),
        a: fc.oneof(fc.array(fc.string({ maxLength: 220 }), { maxLength: 10 }), fc.jsonValue()),
      })
      .map((v) => JSON.stringify(v)),
    fc
      .array(
        fc.record({
          peerId: fc.oneof(fc.constant(PEER), fc.string({ maxLength: 70 }), fc.jsonValue()),
          addresses: fc.oneof(fc.array(fc.string({ maxLength: 220 }), { maxLength: 10 }), fc.jsonValue()),
        }),
        { maxLength: 40 },
      )
      .map((v) => JSON.stringify(v)),
  )
  .map((s) => new TextEncoder().encode(s));

function checkDigest(frame: DigestFrame): void {
  expect(frame.described.length).toBeLessThanOrEqual(MAX_DIGEST_ENTRIES);
  expect(frame.beats.length).toBeLessThanOrEqual(MAX_SLOTS);
  for (const b of frame.beats) expect(b === null || (Number.isSafeInteger(b) && b >= 0)).toBe(true);
  for (const d of frame.described) {
    expect(Number.isSafeInteger(d.slot) && d.slot >= 0 && d.slot < MAX_SLOTS).toBe(true);
    expect(d.peerId).toMatch(/^[1-9A-HJ-NP-Za-km-z]{32,64}$/);
    expect(Number.isSafeInteger(d.incarnation) && d.incarnation >= 0).toBe(true);
    expect(d.name.length).toBeGreaterThan(0);
    expect(d.name.length).toBeLessThanOrEqual(63);
    expect(d.addresses.length).toBeLessThanOrEqual(8);
    for (const a of d.addresses)
      expect(typeof a === 'string' && a.startsWith('/') && a.length <= 200).toBe(true);
  }
  // Whatever passed the decoder, a reader resolves it without throwing.
  new DigestReader().read(frame);
}

function checkPeers(peers: ExchangedPeer[]): void {
  expect(peers.length).toBeLessThanOrEqual(32);
  for (const p of peers) {
    expect(p.peerId).toMatch(/^[1-9A-HJ-NP-Za-km-z]{32,64}$/);
    expect(Array.isArray(p.addresses) && p.addresses.length <= 8).toBe(true);
    for (const a of p.addresses) expect(typeof a === 'string' && a.startsWith('/')).toBe(true);
  }
}

const input = fc.oneof(mutatedFrom([...digests, ...peerLists]), hostileJson);

describe('peer-facing JSON decoders fuzz', () => {
  test(
    `liveness digest decoding never throws and accepts only well-formed digests (${FUZZ_RUNS} cases)`,
    () => {
      fc.assert(
        fc.property(input, (bytes) => {
          const decoded = decodeDigest(bytes);
          if (decoded.ok) checkDigest(decoded.value);
          else expect(bytes.length > MAX_DIGEST_BYTES || decoded.error.length > 0).toBe(true);
        }),
        { numRuns: FUZZ_RUNS },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    `peer-exchange decoding never throws and accepts only bounded peer lists (${FUZZ_RUNS} cases)`,
    () => {
      fc.assert(
        fc.property(input, (bytes) => {
          const decoded = decodePeers(bytes);
          if (!decoded.ok) return;
          const peers = decoded.value;
          checkPeers(peers);
        }),
        { numRuns: FUZZ_RUNS },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
