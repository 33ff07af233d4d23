import { randomBytes } from 'node:crypto';
import { expect, test } from 'vitest';
import xsalsa20 from 'xsalsa20';
import { boundPnetCipher } from '../../../src/node/net/pnet-cipher.js';

// Every test file runs in its own process, so the cipher module here is fresh and patched once, as in meshd.
boundPnetCipher();

const nonce = () => new Uint8Array(randomBytes(24));
const key = new Uint8Array(randomBytes(32));

test('one update over the cipher’s memory, then many from two ciphers: no RangeError (unpatched: ~1,000 in)', () => {
  const inbound = xsalsa20(nonce(), key);
  const outbound = xsalsa20(nonce(), key);
  outbound.update(new Uint8Array(2 * 1024 * 1024));
  const packet = new Uint8Array(1024);
  for (let i = 0; i < 5_000; i++) (i % 2 === 0 ? inbound : outbound).update(packet);
});

test('sliced updates give the bytes one whole update gives, whatever the chunking', () => {
  const n = nonce();
  const plain = new Uint8Array(randomBytes(3 * 1024 * 1024 + 17));
  const sealed = xsalsa20(n, key).update(plain);
  const opener = xsalsa20(n, key);
  const opened = new Uint8Array(plain.length);
  let at = 0;
  for (const size of [1, 63, 64, 65, 65_536, 65_537, 1024 * 1024]) {
    opened.set(opener.update(sealed.subarray(at, at + size)), at);
    at += size;
  }
  opened.set(opener.update(sealed.subarray(at)), at);
  expect(Buffer.from(opened).equals(Buffer.from(plain))).toBe(true);
});
