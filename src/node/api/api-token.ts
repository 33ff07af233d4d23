import { randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { readSecretFileIfExists, replaceSecretFile, writeSecretFile } from '../../lib/secret-file.js';
import { StartupError } from '../../lib/startup-error.js';

export const API_TOKEN_FILE = 'api.token';

/**
 * The control API's bearer token: 32 random bytes, made at first start in the data dir (mode 0600, so only the
 * agent's user and root, who could read the identity key anyway, can steer the mesh through the API).
 */
export async function loadOrCreateApiToken(
  dataDir: string,
  warn: (message: string) => void = () => undefined,
): Promise<string> {
  const path = join(dataDir, API_TOKEN_FILE);
  const stored = await readSecretFileIfExists(path, 'API token');
  if (stored !== undefined) {
    const token = stored.toString('utf8').trim();
    if (token !== '' && !/\s/.test(token)) return token;
    if (token !== '') {
      throw new StartupError(
        `API token ${path} holds white space inside; no request could match it. ` +
          'Write one word into it, or delete it and meshd makes a new one',
      );
    }
    // An empty file is what a crash between create and write leaves: no client can hold an empty token, so a
    // new one locks nobody out.
    const fresh = newToken();
    await replaceSecretFile(path, `${fresh}\n`);
    warn(`API token ${path} was empty, so the control API would have refused every request: wrote a new one`);
    return fresh;
  }
  const token = newToken();
  await writeSecretFile(path, `${token}\n`);
  return token;
}

function newToken(): string {
  return randomBytes(32).toString('hex');
}

/** Constant-time comparison of an `Authorization: Bearer <token>` header with the token. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer (\S+)$/i.exec(header ?? '')?.[1];
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
