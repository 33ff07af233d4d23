import { peerIdFromString } from '@libp2p/peer-id';
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

/** True only for a well-formed signature by `signer` over `value`; anything malformed is simply false. */
export function verifyValue(domain: string, value: unknown, signature: Signature): boolean {
  try {
    const key = peerIdFromString(signature.signer).publicKey;
    if (key?.type !== 'Ed25519') return false;
    const sig = Buffer.from(signature.sig, 'base64');
    if (sig.length !== 64) return false;
    const result = key.verify(signedBytes(domain, value), sig);
    return result === true;
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
