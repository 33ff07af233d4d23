/**
 * Envelope encryption for variables, composed from audited primitives only (no cryptography of our own):
 * - a variable version's values are encrypted once with XChaCha20-Poly1305 under a random 32-byte data key;
 * - the data key is sealed to each recipient's X25519 public key the way age's X25519 recipients and HPKE's base
 *   mode do it: a fresh ephemeral key pair, X25519 with the recipient, HKDF-SHA256 over the shared secret (salted
 *   with both public keys) to a one-time wrapping key, and XChaCha20-Poly1305 over the data key.
 * `context` (the variable's path and version) is bound in as associated data at both layers, so a sealed key or
 * a ciphertext cannot be moved to another variable or version. Pure: every random byte is an argument.
 * Operators' X25519 keys derive from their Ed25519 operator keys (RFC 7748 birational map, as age does for
 * ssh-ed25519 and libsodium's crypto_sign_ed25519_sk_to_curve25519), so an operator needs its key and nothing else.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes } from '@noble/hashes/utils.js';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
const INFO = new TextEncoder().encode('mycel/var-seal/v1');
/** The wrapping key is used exactly once (its ephemeral key is fresh), so a fixed nonce is safe (as age does). */
const WRAP_NONCE = new Uint8Array(NONCE_BYTES);

export interface SealedKey {
  /** The ephemeral X25519 public key. */
  readonly epk: Uint8Array;
  /** The data key under the wrapping key, with its tag (48 bytes). */
  readonly ct: Uint8Array;
}

export function x25519PublicKey(secret: Uint8Array): Uint8Array {
  return x25519.getPublicKey(secret);
}

/** The X25519 public key of an Ed25519 public key (32 bytes): how data keys are sealed to an operator. */
export function montgomeryPublic(ed25519Public: Uint8Array): Uint8Array {
  return ed25519.utils.toMontgomery(ed25519Public);
}

/** The X25519 secret matching `montgomeryPublic` of the key's public half; `seed` is the 32-byte Ed25519 seed. */
export function montgomerySecret(seed: Uint8Array): Uint8Array {
  return ed25519.utils.toMontgomerySecret(seed);
}

/** A point of small order makes every shared secret zero: such a key is no recipient (a hostile record's). */
const PROBE = new Uint8Array(KEY_BYTES).fill(7);
export function usablePublicKey(pub: Uint8Array): boolean {
  try {
    return pub.length === KEY_BYTES && !x25519.getSharedSecret(PROBE, pub).every((b) => b === 0);
  } catch {
    return false;
  }
}

function wrappingKey(shared: Uint8Array, epk: Uint8Array, recipient: Uint8Array): Uint8Array {
  if (shared.every((b) => b === 0)) throw new RangeError('low-order X25519 public key');
  return hkdf(sha256, shared, concatBytes(epk, recipient), INFO, KEY_BYTES);
}

/** Seals `dataKey` to `recipient` (X25519 public key); `ephemeralSecret` must be 32 fresh random bytes. */
export function sealKey(
  dataKey: Uint8Array,
  recipient: Uint8Array,
  ephemeralSecret: Uint8Array,
  context: Uint8Array,
): SealedKey {
  const epk = x25519.getPublicKey(ephemeralSecret);
  const key = wrappingKey(x25519.getSharedSecret(ephemeralSecret, recipient), epk, recipient);
  return { epk, ct: xchacha20poly1305(key, WRAP_NONCE, context).encrypt(dataKey) };
}

/** The data key, or undefined when `sealed` is not for this secret key or was altered. */
export function openKey(sealed: SealedKey, secret: Uint8Array, context: Uint8Array): Uint8Array | undefined {
  try {
    const recipient = x25519.getPublicKey(secret);
    const key = wrappingKey(x25519.getSharedSecret(secret, sealed.epk), sealed.epk, recipient);
    const dataKey = xchacha20poly1305(key, WRAP_NONCE, context).decrypt(sealed.ct);
    return dataKey.length === KEY_BYTES ? dataKey : undefined;
  } catch {
    return undefined;
  }
}

/** `plaintext` under `dataKey`; `nonce` must be 24 random bytes (one data key encrypts one value). */
export function encryptValue(
  dataKey: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  context: Uint8Array,
): Uint8Array {
  return xchacha20poly1305(dataKey, nonce, context).encrypt(plaintext);
}

export function decryptValue(
  dataKey: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  context: Uint8Array,
): Uint8Array | undefined {
  try {
    return xchacha20poly1305(dataKey, nonce, context).decrypt(ciphertext);
  } catch {
    return undefined;
  }
}
