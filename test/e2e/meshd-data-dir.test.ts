import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { API_TOKEN_FILE } from '../../src/node/api/api-token.js';
import { loadOrCreateIdentity } from '../../src/node/membership/identity.js';
import { tempDir } from '../support/agents.js';
import { startLocalMeshd } from '../support/local-meshd.js';
import { bundle, exited, spawnMeshd } from '../support/processes.js';

beforeAll(bundle, 60_000);

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** meshd that must refuse to start: its exit code and everything it printed. */
async function refusal(dataDir: string): Promise<{ code: number | null; output: string }> {
  const agent = spawnMeshd([
    ...['--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'],
    ...['--driver', 'none', '--registry-listen', 'off'],
  ]);
  const code = await Promise.race([
    exited(agent),
    new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000)),
  ]);
  if (code === 'running') {
    agent.kill('SIGKILL');
    throw new Error(`meshd started instead of refusing: ${agent.output().slice(-1_000)}`);
  }
  return { code, output: agent.output() };
}

test.skipIf(process.getuid?.() !== 0)(
  'a read-only data dir: one line saying so, and no advice to move the identity away',
  async () => {
    const tmp = await tempDir();
    cleanups.push(tmp.cleanup);
    const data = join(tmp.path, 'data');
    await loadOrCreateIdentity(data);
    execFileSync('mount', ['--bind', data, data]);
    let result: Awaited<ReturnType<typeof refusal>>;
    try {
      execFileSync('mount', ['-o', 'remount,ro,bind', data]);
      result = await refusal(data);
    } finally {
      execFileSync('umount', [data]);
    }
    expect(result.code).toBe(1);
    expect(result.output).toMatch(
      /^meshd: data dir \S+ is not writable: the file system is read-only \(EROFS\)\. .*--data-dir\n$/,
    );
    expect(result.output).not.toMatch(/move it away|not a valid/);
  },
  30_000,
);

test('a state path that is a file: one line naming it', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const data = join(tmp.path, 'data');
  await mkdir(data, { mode: 0o700 });
  await writeFile(join(data, 'state'), 'not a directory');
  const result = await refusal(data);
  expect(result.code).toBe(1);
  expect(result.output).toMatch(
    new RegExp(`meshd: state directory ${join(data, 'state')} is a file, not a directory: move it away`),
  );
  expect(result.output).not.toMatch(/EEXIST|\n\s+at /);
}, 30_000);

test('an empty api.token: meshd writes a new one, says so, and meshctl works', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const data = join(tmp.path, 'data');
  await mkdir(data, { mode: 0o700 });
  await writeFile(join(data, API_TOKEN_FILE), '', { mode: 0o600 });
  const { agent, ctl } = await startLocalMeshd(data, ['--driver', 'none', '--registry-listen', 'off']);
  cleanups.push(async () => {
    agent.kill('SIGTERM');
    await exited(agent);
  });
  expect(agent.output()).toMatch(/api\.token was empty.*wrote a new one/);
  const status = await ctl('status');
  expect(status.stderr).toBe('');
  expect(status.code).toBe(0);
}, 30_000);
