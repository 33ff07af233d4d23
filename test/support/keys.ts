import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { Sign } from '../../src/crdt/signature.js';

/** A real Ed25519 key as the pure code sees one: its peer-id name and a synchronous signer. */
export interface TestKey {
  readonly id: string;
  readonly sign: Sign;
  readonly key: PrivateKey;
}

export async function testKey(): Promise<TestKey> {
  const key = await generateKeyPair('Ed25519');
  return { id: peerIdFromPrivateKey(key).toString(), sign: (bytes) => key.sign(bytes) as Uint8Array, key };
}
