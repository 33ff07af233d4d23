import { peerIdFromString } from '@libp2p/peer-id';
import { sha256Hex } from '../lib/digest.js';
import { canonicalJson } from './canonical-json.js';

/**
 * Ed25519 signatures over canonical JSON. A key is named by its libp2p peer-id string (the base58 multihash of
 * the public key), so a node's identity and an operator's key are written the same way and the verifier needs
 * nothing but the name. Pure: the private key stays with the caller, who passes a `Sign` function.
 */
export type Sign = (bytes: Uint8Array) => Uint8Array;

export interface Signature {
  /** Peer-id form of the signing Ed25519 public key. */
  readonly signer: string;
  /** base64 of the 64-byte signature. */
  readonly sig: string;
}

/**
 * The bytes a signature covers: a domain (what kind of thing is signed, so a signature on one kind can never be
 * replayed as another) and the canonical JSON of the value.
 */
export function signedBytes(domain: string, value: unknown): Uint8Array {
  return new TextEncoder().encode(`mycel/${domain}/v1\n${canonicalJson(value)}`);
}

export function signValue(domain: string, value: unknown, signer: string, sign: Sign): Signature {
  return { signer, sig: Buffer.from(sign(signedBytes(domain, value))).toString('base64') };
}

/**
 * Outcomes of verifications already made, by signer, signature and hash of the signed bytes. The views read every
 * entry of a document again whenever one of its entries changes (a node's statuses, a job's events, the trust
 * chain once per round), and an Ed25519 verification costs about thirty hashes of the same bytes. The least
 * recently used outcome is dropped first.
 */
const verified = new Map<string, boolean>();
const MAX_VERIFIED = 4096;

/** True only for a well-formed signature by `signer` over `value`; anything malformed is simply false. */
export function verifyValue(domain: string, value: unknown, signature: Signature): boolean {
  let bytes: Uint8Array;
  try {
    bytes = signedBytes(domain, value);
  } catch {
    return false;
  }
  const memo = JSON.stringify([signature.signer, signature.sig, sha256Hex(bytes)]);
  let result = verified.get(memo);
  if (result === undefined) {
    result = verifyBytes(bytes, signature);
    if (verified.size >= MAX_VERIFIED) verified.delete(verified.keys().next().value!);
  } else verified.delete(memo);
  verified.set(memo, result);
  return result;
}

function verifyBytes(bytes: Uint8Array, signature: Signature): boolean {
  try {
    const key = peerIdFromString(signature.signer).publicKey;
    if (key?.type !== 'Ed25519') return false;
    const sig = Buffer.from(signature.sig, 'base64');
    if (sig.length !== 64) return false;
    return key.verify(bytes, sig) === true;
  } catch {
    return false;
  }
}

/** Whether `text` names an Ed25519 key (an operator key or a node identity). */
export function isKeyId(text: string): boolean {
  try {
    return peerIdFromString(text).publicKey?.type === 'Ed25519';
  } catch {
    return false;
  }
}
