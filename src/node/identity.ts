import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { replaceSecretFile } from './secret-file.js';

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
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (bytes) {
    try {
      const key = privateKeyFromProtobuf(bytes);
      if (key.type !== 'Ed25519') throw new Error(`key type ${key.type}`);
      await chmod(path, 0o600);
      return { key, created: false };
    } catch (err) {
      throw new Error(
        `${path} is not a valid Ed25519 identity (${(err as Error).message}); restore it from a backup, ` +
          'or move it away to start this device with a new identity',
      );
    }
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const key = await generateKeyPair('Ed25519');
  await replaceSecretFile(path, privateKeyToProtobuf(key));
  return { key, created: true };
}
