/**
 * What the README tells an operator to do on a device: `npm pack` here, `npm install -g` of the tarball there,
 * then meshd and meshctl from the PATH on that machine's own Node (20 here and in CI). The install must need
 * nothing the device lacks (no devDependency such as patch-package), and the installed commands must start.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir } from '../support/agents.js';
import { bundle } from '../support/processes.js';

const SYSTEM_NODE = '/usr/bin/node';
const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

beforeAll(bundle, 60_000);
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('the packed tarball installs with npm install -g and its commands run on the system Node', async () => {
  if (!existsSync(SYSTEM_NODE)) {
    throw new Error(
      `${SYSTEM_NODE} is missing: install the distribution's nodejs (CI's is 20) to run this test`,
    );
  }
  const tmp = await tempDir('mycel-pack-');
  cleanups.push(tmp.cleanup);
  await run('npm', ['pack', '--silent', '--pack-destination', tmp.path], { cwd: ROOT });
  const tarball = (await readdir(tmp.path)).find((f) => f.endsWith('.tgz'));
  expect(tarball).toBeDefined();
  const prefix = join(tmp.path, 'prefix');
  // A device's PATH: the system Node first, none of this checkout's node_modules/.bin.
  const env = { ...process.env, PATH: `${join(prefix, 'bin')}:/usr/bin:/bin` };
  await run(
    'npm',
    ['install', '-g', '--no-audit', '--no-fund', '--prefix', prefix, join(tmp.path, tarball!)],
    {
      env,
      timeout: 240_000,
    },
  );
  for (const command of ['meshd', 'meshctl']) {
    const { stdout } = await run(join(prefix, 'bin', command), ['--version'], { env });
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  }
}, 300_000);
