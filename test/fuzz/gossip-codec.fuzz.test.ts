import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodeGossip, encodeGossip } from '../../src/crdt/gossip-codec.js';
import { FUZZ_RUNS, FUZZ_TIMEOUT_MS, mutatedChunk, mutatedFrom } from './mutate.js';
import { buildFixture, expectIntact, hostileChangesArb } from './replica-fixture.js';

/**
 * The state topic's decoder is the gossipsub validator: it sees every message any connected peer publishes or
 * forwards. Whatever it is given it answers with a value or an error (never a throw), and whatever it accepts the
 * replica can apply without losing anything it held.
 */
const fixture = buildFixture();
const valid = fixture.gossip.map((message) => {
  const encoded = encodeGossip(message);
  if (!encoded.ok) throw new Error(encoded.error);
  return encoded.value;
});

/** Valid messages whose changes were mutated inside and resealed: they pass the checksum and reach Automerge. */
const resealed = fc
  .tuple(fc.nat(), mutatedChunk(fixture.gossip.flatMap((m) => m.changes)))
  .map(([pick, change]) => {
    const message = fixture.gossip[pick % fixture.gossip.length]!;
    const encoded = encodeGossip({ ...message, changes: [...message.changes.slice(1), change] });
    return encoded.ok ? encoded.value : new Uint8Array();
  });

describe('gossip decoder fuzz', () => {
  test(
    `mutated messages decode to a value or an error, and what decodes applies safely (${FUZZ_RUNS} cases)`,
    () => {
      let accepted = 0;
      fc.assert(
        fc.property(fc.oneof(mutatedFrom(valid), resealed), (bytes) => {
          const decoded = decodeGossip(bytes);
          if (!decoded.ok) {
            expect(typeof decoded.error).toBe('string');
            return;
          }
          accepted++;
          // What the validator accepts re-encodes to a message that decodes to the same thing.
          const again = encodeGossip(decoded.value);
          expect(again.ok && decodeGossip(again.value)).toEqual({ ok: true, value: decoded.value });
          const victim = fixture.victim();
          victim.applyGossip(decoded.value, 10_000);
          expectIntact(victim, fixture.before);
        }),
        { numRuns: FUZZ_RUNS },
      );
      // The mutations must reach the deep end: some survive decoding (and reach the replica).
      expect(accepted).toBeGreaterThan(FUZZ_RUNS / 100);
    },
    FUZZ_TIMEOUT_MS,
  );

  // Each case here runs Automerge for real (a change built, applied, the replica reloaded when it changed): about
  // 5 ms of CPU, so this property takes a tenth of the runs; the sync fuzzer covers the same input at 10,000.
  test(
    `well-formed changes with hostile content never crash the replica or lose its state (${FUZZ_RUNS / 10} cases)`,
    () => {
      fc.assert(
        fc.property(hostileChangesArb(fixture), ({ docId, epoch, changes }) => {
          const message = { docId, epoch, changes: changes.slice(0, 64) };
          const encoded = encodeGossip(message);
          if (encoded.ok) decodeGossip(encoded.value);
          // Sync hands changes to the replica without the validator in front: it must be safe on its own.
          const victim = fixture.victim();
          victim.applyGossip(message, 10_000);
          expectIntact(victim, fixture.before);
        }),
        { numRuns: FUZZ_RUNS / 10 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
