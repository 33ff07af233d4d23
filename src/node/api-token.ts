import { randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { readSecretFileIfExists, writeSecretFile } from './secret-file.js';

export const API_TOKEN_FILE = 'api.token';

/**
 * The control API's bearer token: 32 random bytes, made at first start in the data dir (mode 0600, so only the
 * agent's user and root, who could read the identity key anyway, can steer the mesh through the API).
 */
export async function loadOrCreateApiToken(dataDir: string): Promise<string> {
  const path = join(dataDir, API_TOKEN_FILE);
  const stored = await readSecretFileIfExists(path, 'API token');
  if (stored !== undefined) return stored.toString('utf8').trim();
  const token = randomBytes(32).toString('hex');
  await writeSecretFile(path, `${token}\n`);
  return token;
}

/** Constant-time comparison of an `Authorization: Bearer <token>` header with the token. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer (\S+)$/i.exec(header ?? '')?.[1];
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
