/**
 * What the README tells an operator to do on a device: `npm run pack` here, `npm install -g` of the tarball there,
 * then meshd and meshctl from the PATH on that machine's own Node (20 here and in CI). The install must need
 * nothing the device lacks (no devDependency such as patch-package), and the installed commands must start.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir, waitFor } from '../support/agents.js';
import { API_LOG_LINE } from '../support/local-meshd.js';
import { bundle, exited } from '../support/processes.js';

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
  await run(process.execPath, ['scripts/pack.mjs', '--pack-destination', tmp.path], { cwd: ROOT });
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
  const installed = join(prefix, 'lib', 'node_modules', 'mycel');
  // The bundle carries its dependencies: nothing fetched (148 MB before), no install script for npm to flag.
  expect(existsSync(join(installed, 'node_modules'))).toBe(false);
  expect(JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')).scripts).toBeUndefined();
  // What the device needs and nothing of the build: the unit ships, the tsc output does not.
  expect(existsSync(join(installed, 'deploy', 'meshd.service'))).toBe(true);
  expect(existsSync(join(installed, 'dist', 'build'))).toBe(false);
  const { stdout: unit } = await run(join(prefix, 'bin', 'meshd'), ['install-service', '--print'], { env });
  expect(unit).toContain(`ExecStart=${join(prefix, 'bin', 'meshd')} --data-dir /var/lib/mycel`);

  // The agent from the package, on the system Node, finds its chunks and automerge.wasm with no node_modules
  // of this checkout to fall back on; meshctl's lazily loaded parts (YAML output) are there too.
  const data = join(tmp.path, 'data');
  const agent = spawn(
    join(prefix, 'bin', 'meshd'),
    [
      ...['--data-dir', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'],
      ...['--driver', 'none', '--registry-listen', 'off'],
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  for (const stream of [agent.stdout, agent.stderr])
    stream.on('data', (d: Buffer) => (output += d.toString()));
  cleanups.push(async () => {
    if (agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
    await exited(agent);
  });
  let api = '';
  await waitFor(
    'the installed meshd to serve its API',
    () => {
      if (agent.exitCode !== null) throw new Error(`meshd exited ${agent.exitCode}: ${output}`);
      api = API_LOG_LINE.exec(output)?.[1] ?? '';
      return api !== '';
    },
    30_000,
    () => output,
  );
  const ctl = (...args: string[]) =>
    run(join(prefix, 'bin', 'meshctl'), ['--api', api, '--data-dir', data, ...args], {
      env,
      timeout: 20_000,
    });
  expect((await ctl('status')).stdout).toMatch(/^Peer ID: +12D3Koo/m);
  expect((await ctl('-o', 'yaml', 'status')).stdout).toMatch(/^peerId: 12D3Koo/m);
  agent.kill('SIGTERM');
  expect(await exited(agent)).toBe(0);
}, 300_000);
