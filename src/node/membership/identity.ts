import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { fsCause } from '../../lib/fs-cause.js';
import { replaceSecretFile } from '../../lib/secret-file.js';
import { StartupError } from '../../lib/startup-error.js';

export const IDENTITY_FILE = 'identity.key';

/**
 * The agent's Ed25519 key, created on first start. The PeerId derives from it, so the same data dir means the
 * same identity across restarts. A corrupt key file is an error, never silently replaced: a new identity would
 * orphan every record this node wrote.
 */
export async function loadOrCreateIdentity(dataDir: string): Promise<{ key: PrivateKey; created: boolean }> {
  const path = join(dataDir, IDENTITY_FILE);
  let bytes: Buffer | undefined;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new StartupError(`cannot read ${path}: ${fsCause(err)}`, { cause: err });
    }
  }
  if (bytes) {
    let key: PrivateKey;
    try {
      key = privateKeyFromProtobuf(bytes);
      if (key.type !== 'Ed25519') throw new Error(`key type ${key.type}`);
    } catch (err) {
      throw new Error(
        `${path} is not a valid Ed25519 identity (${(err as Error).message}); restore it from a backup, ` +
          'or move it away to start this device with a new identity',
      );
    }
    await keepPrivate(path);
    return { key, created: false };
  }
  const key = await generateKeyPair('Ed25519');
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await replaceSecretFile(path, privateKeyToProtobuf(key));
  } catch (err) {
    throw new StartupError(`cannot store a new identity in ${path}: ${fsCause(err)}`, { cause: err });
  }
  return { key, created: true };
}

/**
 * A key that is fine but cannot be made private is a fault of the disk, not of the key: the message says what
 * failed, and nothing about moving the key away, which would change the device's identity.
 */
async function keepPrivate(path: string): Promise<void> {
  if (((await stat(path)).mode & 0o077) === 0) return;
  try {
    await chmod(path, 0o600);
  } catch (err) {
    throw new StartupError(
      `cannot restrict ${path} to mode 600: ${fsCause(err)}. The key itself is intact: make the data dir ` +
        'writable, or run `chmod 600` on it, and start meshd again',
      { cause: err },
    );
  }
}
