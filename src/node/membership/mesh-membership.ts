import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../lib/logger.js';
import { readSecretFileIfExists, replaceSecretFile } from '../../lib/secret-file.js';
import { decodeJoinToken, type MeshSecrets } from './join-token.js';

export const TOKEN_FILE = 'mesh.token';

/**
 * Which mesh this agent belongs to. A token given now (flag, MESH_JOIN_TOKEN, config file) is kept in the data
 * dir (mode 0600), so a device flashed once keeps its mesh across restarts without the token in its unit file;
 * a new token given later replaces it. No token anywhere: an open development mesh, said loudly.
 */
export async function resolveMembership(
  dataDir: string,
  given: string | undefined,
  log: Logger,
): Promise<MeshSecrets | undefined> {
  const path = join(dataDir, TOKEN_FILE);
  if (given !== undefined) {
    const decoded = decodeJoinToken(given);
    if (!decoded.ok) throw new Error(`join token: ${decoded.error}`);
    const stored = await readFile(path, 'utf8').catch(() => undefined);
    if (stored?.trim() !== given.trim()) await replaceSecretFile(path, given.trim());
    return decoded.value;
  }
  const stored = (await readSecretFileIfExists(path, 'join token'))?.toString('utf8');
  if (stored === undefined) {
    log.warn(
      'OPEN MESH: no join token, so any device that reaches this one can join, and jobs run unsigned. ' +
        'For anything but development, create a mesh with `meshctl mesh init` and start meshd with --join-token',
    );
    return undefined;
  }
  const decoded = decodeJoinToken(stored);
  if (!decoded.ok) throw new Error(`${path}: ${decoded.error}`);
  return decoded.value;
}
