import { describe, expect, test } from 'vitest';
import * as A from '../../src/crdt/automerge.js';
import { decodeGossip } from '../../src/crdt/gossip-codec.js';
import type { GossipMessage } from '../../src/crdt/mesh-state.js';
import { buildFixture, expectIntact } from './replica-fixture.js';

/**
 * Gossip messages the fuzzers found that corrupted a replica, as they shrank them (hex of the wire bytes), kept so
 * the fixes stay fixed. Each is fed to the validator and, as sync would, straight to the replica.
 */
const fixture = buildFixture();
const wire = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));

/** The message as the codec reads it, validation of the changes aside: what sync hands to the replica. */
function unchecked(bytes: Uint8Array): GossipMessage {
  let at = 1;
  const varint = () => {
    let value = 0;
    for (let scale = 1; ; scale *= 128) {
      const byte = bytes[at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
    }
  };
  const take = (n: number) => {
    at += n;
    return bytes.subarray(at - n, at);
  };
  const docId = Buffer.from(take(varint())).toString() as GossipMessage['docId'];
  const epoch = varint();
  const changes = Array.from({ length: varint() }, () => take(varint()).slice());
  return { docId, epoch, changes };
}

const found = {
  badChecksum:
    '01076a6f622f77656200018702856f4a83032ab07501fc010100b50d6b3168d62a2faede245c365dcfb3e8c17b8cf94fb6be' +
    'cc195d59a17eba10cabec16125403a788ec802f6f860711f0203020000061524340142025603578b0170027f22653a363761' +
    '3962353436353061333363333262633465303665373339346531346636017f017fb6117b226174223a323030322c22627922' +
    '3a226f70222c226b696e64223a227375626d6974222c22736571223a322c2273706563223a227b5c22636f756e745c223a32' +
    '2c5c226472697665725c223a5c22646f636b65725c222c5c22696d6167655c223a5c22696d673a325c222c5c226e616d655c' +
    '223a5c227765625c227d222c2276657273696f6e223a327d7f00',
  hugeStartOp:
    '010b6e6f64652f706565722d610001cd02856f4a83139cf53e01c202001000bec16125403a788ec802f6f860711f01ffffff' +
    'ff070101000006150e34014202560457810270027e0565706f6368067265636f72640202017e148620007b22616464726573' +
    '736573223a5b222f6970342f3132372e302e302e312f7463702f343030312f7032702f706565722d61225d2c226167656e74' +
    '56657273696f6e223a22302e312e30222c2261726368223a2261726d3634222c22637075223a343030302c22647269766572' +
    '73223a5b22646f636b6572222c2265786563225d2c226c6162656c73223a7b227a6f6e65223a226e6f727468227d2c226d65' +
    '6d6f7279223a323034382c226e616d65223a226465762d706565722d61222c226f73223a226c696e7578222c227065657249' +
    '64223a22706565722d61222c227265736572766564223a7b22637075223a3130302c226d656d6f7279223a3132387d7d0200',
  overwritesEvent:
    '01076a6f622f7765620001ef01856f4a83a34056ba01e4010010cbbec36125403a788ec802f6f860711f010102000006152a' +
    '340142025604578c0170027e0565706f636822653a6231303962313531613032383866623464363661323636376537383338' +
    '6231630202017e14b611007a226174223a323030312c226279223a226f70222c226b696e64223a227375626d6974222c2273' +
    '6571223a312c2273706563223a227b5c22636f756e745c223a312c5c226472697665725c223a5c22646f636b65725c222c5c' +
    '22696d6167655c223a5c22696d673a315c222c5c226e616d655c223a5c227765625c227d222c2276657273696f6e223a317d' +
    '0200',
  nonCanonical:
    '010b6e6f64652f706565722d610001c802856f4a83c00ba63601bd020010cabec16125403a788ec802f6f860711f01010100' +
    '0006150e34014200560457810270027e0565706f6368067265636f72640202017e148620007b22616464726573736573223a' +
    '5b222f6970342f3132372e302e302e312f7463702f343030312f7032702f706565722d61225d2c226167656e745665727369' +
    '6f6e223a22302e312e30222c2261726368223a2261726d3634222c22637075223a343030302c2264726976657273223a5b22' +
    '646f636b6572222c2265786563225d2c226c6162656c73223a7b227a6f6e65223a226e6f727468227d2c226d656d6f727922' +
    '3a323034382c226e616d65223a226465762d706565722d61222c226f73223a226c696e7578222c22706565724964223a2270' +
    '6565722d61222c227265736572766564223a7b22637075223a3130302c226d656d6f7279223a3132387d7d0200',
  reusedOpIds:
    '010b6e6f64652f706565722d610001c802856f4a83b1657ab201bd020010cbbec16125403a788ec802f6f860711f03010100' +
    '0006150e34014202560457810270027e0565706f6368067265636f72640202017e148620007b22616464726573736573223a' +
    '5b222f6970342f3132372e302e302e312f7463702f343030312f7032702f706565722d61225d2c226167656e745665727369' +
    '6f6e223a22302e312e30222c2261726368223a2261726d3634222c22637075223a343030302c2264726976657273223a5b22' +
    '646f636b6572222c2265786563225d2c226c6162656c73223a7b227a6f6e65223a226e6f727468227d2c226d656d6f727922' +
    '3a323034382c226e616d65223a226465762d706565722d61222c226f73223a226c696e7578222c22706565724964223a2270' +
    '6565722d61222c227265736572766564223a7b22637075223a3130302c226d656d6f7279223a3132387d7d0200',
  missingOps:
    '010b6e6f64652f706565722d6100018b02856f4a83be13135e018002001055c37894299d476636b1215718430585011f0101' +
    '02000002001055c37894299d476636b1215718430585011f010102000006152a340142025604578c0170027e0565706f6368' +
    '22653a62313039623135316130323838666234643636613236363765373833386231630202017e14b611007b226174223a32' +
    '3030312c226279223a226f70222c226b696e64223a227375626d6974222c22736571223a312c2273706563223a227b5c2263' +
    '6f756e745c223a312c5c226472697665725c223a5c22646f636b65725c222c5c22696d6167655c223a5c22696d673a315c22' +
    '2c5c226e616d655c223a5c227765625c227d222c2276657273696f6e223a317d0200',
};

describe('fuzzer finds', () => {
  test.each([
    // A flipped bit in a change whose dependencies are missing: Automerge queued it unchecked, saved it, and
    // `A.load` refused the document ("bad checksum").
    ['badChecksum', /checksum/],
    // A resealed change (valid checksum) whose encoding is not canonical: the reloaded document's heads differed
    // ("mismatching heads") and it did not load.
    ['nonCanonical', /canonical/],
    // A change claiming a start op near 2^32: `A.load` of the saved document ran out of memory.
    ['hugeStartOp', /counters out of range/],
  ] as const)('%s is refused by the validator and cannot spoil the replica', (name, reason) => {
    const bytes = wire(found[name]);
    expect(decodeGossip(bytes)).toMatchObject({ ok: false, error: reason });
    const victim = fixture.victim();
    expect(victim.applyGossip(unchecked(bytes), 10_000).kind).toMatch(/rejected|missing-deps/);
    expectIntact(victim, fixture.before);
  });

  test('a sync message with a Bloom filter of zero bits is refused; a state spoiled by one costs a fresh start', () => {
    const victim = fixture.victim();
    const docId = 'job/web' as const;
    const spoiled = A.encodeSyncMessage({
      heads: [],
      need: [],
      have: [{ lastSync: [], bloom: Uint8Array.from([1, 0, 7]) }],
      changes: [],
    });
    expect(victim.receiveSyncMessage(docId, A.initSyncState(), spoiled, 10_000)).toMatchObject({
      ok: false,
      error: /Bloom/,
    });
    // What Automerge itself does with it: the next generateSyncMessage panicked inside the WebAssembly.
    const [, state] = A.receiveSyncMessage(
      A.load(fixture.saved.get(docId)!.bytes),
      A.initSyncState(),
      spoiled,
    );
    const [, message] = victim.generateSyncMessage(docId, state);
    expect(message).toBeInstanceOf(Uint8Array);
    expectIntact(victim, fixture.before);
  });

  test.each([
    // A resealed copy of a node's first change claiming sequence number 3: its op ids duplicate those of the real
    // first change, and `A.load` of the saved document panicked inside the WebAssembly.
    'reusedOpIds',
    // Two mutated changes whose ops do not add up: `A.load` refused the saved document ("missing ops").
    'missingOps',
  ] as const)(
    '%s passes every check of a change alone, and is refused by the replica, by gossip and by sync',
    (name) => {
      const decoded = decodeGossip(wire(found[name]));
      if (!decoded.ok) throw new Error(decoded.error);
      const victim = fixture.victim();
      expect(victim.applyGossip(decoded.value, 10_000)).toMatchObject({
        kind: 'rejected',
        reason: /would not load again/,
      });
      expectIntact(victim, fixture.before);

      const docId = decoded.value.docId;
      const sync = A.encodeSyncMessage({
        heads: [],
        need: [],
        have: [],
        changes: [...decoded.value.changes],
      });
      expect(victim.receiveSyncMessage(docId, A.initSyncState(), sync, 10_000)).toMatchObject({
        ok: false,
        error: /would not load again/,
      });
      expectIntact(victim, fixture.before);
    },
  );

  test('a well-formed change that overwrites a job event is answered by writing the event back', () => {
    const message = unchecked(wire(found.overwritesEvent));
    const victim = fixture.victim();
    const outcome = victim.applyGossip(message, 10_000);
    expect(outcome.kind).toBe('applied');
    // The rewrite is gossiped so the peers that took the hostile change repair too.
    expect(outcome.kind === 'applied' && outcome.publish.length).toBeGreaterThan(0);
    expectIntact(victim, fixture.before);
  });
});
