import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { type OperatorKey, operatorKey } from '../../src/node/membership/key-file.js';

/** A real Ed25519 key as the pure code sees one: its peer-id name and a synchronous signer. */
export interface TestKey extends OperatorKey {
  readonly key: PrivateKey;
}

export async function testKey(): Promise<TestKey> {
  const key = await generateKeyPair('Ed25519');
  return { ...operatorKey(key), key };
}
