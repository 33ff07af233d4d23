import { privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { montgomerySecret } from '../../crdt/sealed-box.js';
import type { Sign } from '../../crdt/signature.js';
import { readSecretFile, writeSecretFile } from '../../lib/secret-file.js';

/** An operator's Ed25519 key: its public name (peer-id form) and a signer for the pure code. */
export interface OperatorKey {
  readonly id: string;
  readonly sign: Sign;
  /** The X25519 secret of the same key (crdt/sealed-box.ts): what opens the variables sealed to this operator. */
  readonly sealSecret: Uint8Array;
}

export function operatorKey(key: PrivateKey): OperatorKey {
  return {
    id: peerIdFromPrivateKey(key).toString(),
    sign: (bytes) => key.sign(bytes) as Uint8Array,
    // An Ed25519 key's raw form is its 32-byte seed followed by its public key.
    sealSecret: montgomerySecret(key.raw.subarray(0, 32)),
  };
}

export async function loadOperatorKey(path: string): Promise<OperatorKey> {
  const bytes = await readSecretFile(path, 'operator key');
  let key: PrivateKey;
  try {
    key = privateKeyFromProtobuf(bytes);
  } catch (err) {
    throw new Error(`${path} is not an operator key (${(err as Error).message})`);
  }
  if (key.type !== 'Ed25519') throw new Error(`${path} holds a ${key.type} key; operator keys are Ed25519`);
  return operatorKey(key);
}

export async function writeOperatorKey(path: string, key: PrivateKey): Promise<void> {
  await writeSecretFile(path, privateKeyToProtobuf(key));
}
