import fc from 'fast-check';
import { expect, test } from 'vitest';
import { decodeHeartbeat, encodeHeartbeat, MAX_HEARTBEAT_BYTES } from '../../src/node/heartbeat.js';

test('round trip', () => {
  const hb = { name: 'gw-1', incarnation: 1700000000000, seq: 42, addresses: ['/ip4/192.0.2.1/tcp/4001'] };
  expect(decodeHeartbeat(encodeHeartbeat(hb))).toEqual({ ok: true, value: hb });
});

test('hostile bytes are refused with a reason, never thrown', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: MAX_HEARTBEAT_BYTES + 100 }), (bytes) => {
      const result = decodeHeartbeat(bytes);
      if (!result.ok) expect(result.error).toMatch(/\w/);
    }),
    { numRuns: 2_000 },
  );
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const result = decodeHeartbeat(new TextEncoder().encode(JSON.stringify(value)));
      expect(result.ok).toBe(false);
    }),
    { numRuns: 2_000 },
  );
  expect(
    decodeHeartbeat(new TextEncoder().encode(JSON.stringify({ v: 1, n: 'x', i: 1, s: 1, a: ['x'] }))).ok,
  ).toBe(false);
  expect(decodeHeartbeat(new Uint8Array(MAX_HEARTBEAT_BYTES + 1))).toEqual({
    ok: false,
    error: expect.stringMatching(/too large/),
  });
});

test('a version object whose toString is not a function is refused, not thrown on (found by the fuzzer)', () => {
  const bytes = new TextEncoder().encode('{"v":{"toString":""},"n":"","i":0,"s":false,"a":[]}');
  expect(decodeHeartbeat(bytes)).toEqual({ ok: false, error: 'unknown version object' });
});
