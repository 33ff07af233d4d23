import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { API_TOKEN_FILE, loadOrCreateApiToken } from '../../../src/node/api/api-token.js';
import { IDENTITY_FILE, loadOrCreateIdentity } from '../../../src/node/membership/identity.js';
import { prepareDataDir } from '../../../src/node/setup/data-dir.js';
import { StateStore } from '../../../src/node/state/state-store.js';
import { replica } from '../../crdt/replicas.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mycel-datadir-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Root can bind-mount a directory read-only over itself: the real EROFS, not a mocked one. */
const canMount = process.getuid?.() === 0;

async function readOnly<T>(path: string, body: () => Promise<T>): Promise<T> {
  execFileSync('mount', ['--bind', path, path]);
  try {
    execFileSync('mount', ['-o', 'remount,ro,bind', path]);
    return await body();
  } finally {
    execFileSync('umount', [path]);
  }
}

describe.skipIf(!canMount)('a read-only data dir', () => {
  test('says the file system is read-only, and never advises moving a good key away', async () => {
    const data = join(dir, 'data');
    const { key } = await loadOrCreateIdentity(data);
    await chmod(join(data, IDENTITY_FILE), 0o644);
    const failure = await readOnly(data, () =>
      loadOrCreateIdentity(data).then(
        () => undefined,
        (e: Error) => e,
      ),
    );
    expect(failure?.message).toMatch(
      /cannot restrict .*identity\.key to mode 600: the file system is read-only \(EROFS\)/,
    );
    expect(failure?.message).toMatch(/key itself is intact/);
    expect(failure?.message).not.toMatch(/move it away|not a valid/);

    // A private key on a read-only dir loads, and the dir check says what is wrong before anything is written.
    await chmod(join(data, IDENTITY_FILE), 0o600);
    await readOnly(data, async () => {
      expect((await loadOrCreateIdentity(data)).key.equals(key)).toBe(true);
      await expect(prepareDataDir(data)).rejects.toThrow(
        /data dir .*data is not writable: the file system is read-only \(EROFS\).*remount read-write/,
      );
    });
  });
});

test('a key that does not parse is still called invalid, with the advice to restore or move it', async () => {
  await writeFile(join(dir, IDENTITY_FILE), 'garbage', { mode: 0o600 });
  await expect(loadOrCreateIdentity(dir)).rejects.toThrow(/not a valid Ed25519 identity.*move it away/);
});

test('a data dir or a state dir that is a file is named in one clear line', async () => {
  const file = join(dir, 'data');
  await writeFile(file, '');
  await expect(prepareDataDir(file)).rejects.toThrow(`data dir ${file} is a file, not a directory`);

  await writeFile(join(dir, 'state'), '');
  await expect(StateStore.open({ dataDir: dir }, replica('a', 1))).rejects.toThrow(
    `state directory ${join(dir, 'state')} is a file, not a directory: move it away, or choose another --data-dir`,
  );
});

test('an empty api.token is replaced with a warning; one with white space inside is refused', async () => {
  const path = join(dir, API_TOKEN_FILE);
  await writeFile(path, '\n', { mode: 0o600 });
  const warnings: string[] = [];
  const token = await loadOrCreateApiToken(dir, (m) => warnings.push(m));
  expect(token).toMatch(/^[0-9a-f]{64}$/);
  expect((await readFile(path, 'utf8')).trim()).toBe(token);
  expect(warnings).toEqual([
    expect.stringMatching(/api\.token was empty.*refused every request: wrote a new one/),
  ]);
  expect(await loadOrCreateApiToken(dir)).toBe(token);

  await writeFile(path, 'two words\n', { mode: 0o600 });
  await expect(loadOrCreateApiToken(dir)).rejects.toThrow(/white space inside/);
});

test('a private key written by the agent keeps working', async () => {
  const { key } = await loadOrCreateIdentity(dir);
  await mkdir(join(dir, 'other'));
  await writeFile(join(dir, 'other', IDENTITY_FILE), privateKeyToProtobuf(key), { mode: 0o644 });
  expect((await loadOrCreateIdentity(join(dir, 'other'))).key.equals(key)).toBe(true);
});
