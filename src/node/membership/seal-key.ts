import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KEY_BYTES, x25519PublicKey } from '../../crdt/sealed-box.js';
import { fsCause } from '../../lib/fs-cause.js';
import { readSecretFileIfExists, replaceSecretFile } from '../../lib/secret-file.js';
import { StartupError } from '../../lib/startup-error.js';

const SEAL_KEY_FILE = 'seal.key';

/** This device's X25519 key pair: variables' data keys are sealed to its public half (docs/security.md). */
export interface SealKeyPair {
  readonly secret: Uint8Array;
  /** base64, as the node record carries it (signed with the record by the device's identity). */
  readonly publicKey: string;
}

/**
 * The device's X25519 key, created on first start beside its identity (mode 0600), kept apart from the Ed25519
 * identity so that a key used for decryption never signs. A corrupt file is an error, never silently replaced:
 * the variables sealed to the old key would no longer open here (a new key only needs a re-seal, docs/security.md,
 * but the operator should decide that, by moving the file away).
 */
export async function loadOrCreateSealKey(dataDir: string): Promise<SealKeyPair> {
  const path = join(dataDir, SEAL_KEY_FILE);
  let bytes: Buffer | undefined;
  try {
    bytes = await readSecretFileIfExists(path, 'seal key');
  } catch (err) {
    throw new StartupError((err as Error).message, { cause: err });
  }
  if (bytes) {
    if (bytes.length !== KEY_BYTES)
      throw new StartupError(
        `${path} is not an X25519 key (${bytes.length} bytes, not ${KEY_BYTES}); restore it from a backup, or ` +
          'move it away to start with a new one (variables are then sealed to the new key by a peer or the operator)',
      );
    return pair(new Uint8Array(bytes));
  }
  const secret = new Uint8Array(randomBytes(KEY_BYTES));
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await replaceSecretFile(path, secret);
  } catch (err) {
    throw new StartupError(`cannot store a new seal key in ${path}: ${fsCause(err)}`, { cause: err });
  }
  return pair(secret);
}

function pair(secret: Uint8Array): SealKeyPair {
  return { secret, publicKey: Buffer.from(x25519PublicKey(secret)).toString('base64') };
}
