import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { LOCK_FILE, lockDataDir } from '../../../src/node/setup/data-dir-lock.js';
import { tempDir } from '../../support/agents.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

async function dir(): Promise<string> {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  return tmp.path;
}

// flock(2) locks belong to an open file description, so a second open in this same process conflicts too.
test('the second lock on a dir is refused in one line naming the dir and the holder; release frees it', async () => {
  const data = await dir();
  const held = lockDataDir(data);
  expect((await readFile(join(data, LOCK_FILE), 'utf8')).trim()).toBe(String(process.pid));
  expect(() => lockDataDir(data)).toThrow(
    `data dir ${data} is in use by another meshd (pid ${process.pid}): stop that agent, or give this one another --data-dir`,
  );
  held.release();
  lockDataDir(data).release();
});

test('no flock command: says what to install', async () => {
  const data = await dir();
  expect(() => lockDataDir(data, '/nonexistent/flock')).toThrow(
    /^cannot lock the data dir .*: no `\/nonexistent\/flock` command on this device; install util-linux/,
  );
});

test('flock itself failing (ENOLCK on some file systems) is not mistaken for another agent', async () => {
  const data = await dir();
  const fake = join(data, 'fake-flock');
  await writeFile(fake, '#!/bin/sh\necho "flock: 3: No locks available" >&2\nexit 1\n');
  await chmod(fake, 0o755);
  expect(() => lockDataDir(data, fake)).toThrow(
    `cannot lock the data dir ${data}: ${fake} failed: flock: 3: No locks available`,
  );
});
