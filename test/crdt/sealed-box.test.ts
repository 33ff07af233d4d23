import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decryptValue,
  encryptValue,
  montgomeryPublic,
  openKey,
  sealKey,
  x25519PublicKey,
} from '../../src/crdt/sealed-box.js';
import { operatorSealKey } from '../../src/node/placement/var-recipients.js';
import { testKey } from '../support/keys.js';

const rand = (n: number) => new Uint8Array(randomBytes(n));
const context = new TextEncoder().encode('mycel/var/v1\napp/db\n1\nnonce');

describe('sealing a data key to an X25519 recipient', () => {
  it('opens with the recipient secret, and only with it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (dataKey) => {
        const secret = rand(32);
        const sealed = sealKey(dataKey, x25519PublicKey(secret), rand(32), context);
        expect(openKey(sealed, secret, context)).toEqual(dataKey);
        expect(openKey(sealed, rand(32), context)).toBeUndefined();
      }),
      { numRuns: 50 },
    );
  });

  it('refuses a sealed key that was altered, or moved to another variable or version', () => {
    const secret = rand(32);
    const dataKey = rand(32);
    const sealed = sealKey(dataKey, x25519PublicKey(secret), rand(32), context);
    fc.assert(
      fc.property(fc.nat(sealed.ct.length - 1), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const ct = Uint8Array.from(sealed.ct);
        ct[at]! ^= flip;
        expect(openKey({ ...sealed, ct }, secret, context)).toBeUndefined();
      }),
    );
    const epk = Uint8Array.from(sealed.epk);
    epk[0]! ^= 1;
    expect(openKey({ ...sealed, epk }, secret, context)).toBeUndefined();
    const other = new TextEncoder().encode('mycel/var/v1\napp/db\n2\nnonce');
    expect(openKey(sealed, secret, other)).toBeUndefined();
  });

  it('refuses a low-order public key instead of sealing to an all-zero secret', () => {
    expect(() => sealKey(rand(32), new Uint8Array(32), rand(32), context)).toThrow();
  });

  it('an operator opens with its Ed25519 operator key what was sealed to its public name alone', async () => {
    const operator = await testKey();
    const pub = Buffer.from(operatorSealKey(operator.id)!, 'base64');
    expect(pub).toEqual(Buffer.from(montgomeryPublic(operator.key.publicKey.raw)));
    const dataKey = rand(32);
    const sealed = sealKey(dataKey, pub, rand(32), context);
    expect(openKey(sealed, operator.sealSecret, context)).toEqual(dataKey);
    expect(openKey(sealed, (await testKey()).sealSecret, context)).toBeUndefined();
  });
});

describe('encrypting values under a data key', () => {
  it('round-trips any bytes, and refuses any altered byte, another key or another context', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (plain) => {
        const key = rand(32);
        const nonce = rand(24);
        const ct = encryptValue(key, nonce, plain, context);
        expect(decryptValue(key, nonce, ct, context)).toEqual(plain);
        expect(decryptValue(rand(32), nonce, ct, context)).toBeUndefined();
        expect(decryptValue(key, nonce, ct, new Uint8Array([1]))).toBeUndefined();
        const bad = Uint8Array.from(ct);
        bad[bad.length - 1]! ^= 1;
        expect(decryptValue(key, nonce, bad, context)).toBeUndefined();
      }),
      { numRuns: 50 },
    );
  });
});
