/**
 * Issue 18: one agent per data dir. Real meshd processes: a second one on a running agent's dir must refuse in
 * one line and touch nothing; after kill -9 of the holder the kernel has dropped the lock and a new agent starts.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir } from '../support/agents.js';
import { startLocalMeshd } from '../support/local-meshd.js';
import { bundle, exited, spawnMeshd } from '../support/processes.js';

beforeAll(bundle, 60_000);

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const AGENT_ARGS = ['--driver', 'none', '--registry-listen', 'off'];

/** Every file in the data dir (not below) with its bytes and mtime: what a refused agent must leave alone. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await readdir(dir)) {
    const info = await stat(join(dir, name));
    out[name] = info.isFile() ? `${info.mtimeMs} ${await readFile(join(dir, name), 'base64')}` : 'dir';
  }
  return out;
}

test('a second meshd on a running agent’s data dir exits 1 in one line, touching nothing; kill -9 frees it', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const data = join(tmp.path, 'data');
  const first = await startLocalMeshd(data, AGENT_ARGS);
  cleanups.push(async () => {
    // Killed by the test already unless it failed first; exited() would wait for an exit that came and went.
    if (first.agent.exitCode === null && first.agent.signalCode === null) {
      first.agent.kill('SIGKILL');
      await exited(first.agent);
    }
  });
  const peerId = JSON.parse((await first.ctl('status', '-o', 'json')).stdout).peerId as string;
  const before = await snapshot(data);

  const second = spawnMeshd([
    ...['--data-dir', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'],
    ...AGENT_ARGS,
  ]);
  const code = await Promise.race([
    exited(second),
    new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000)),
  ]);
  if (code === 'running') second.kill('SIGKILL');
  expect(code).toBe(1);
  expect(second.output()).toBe(
    `meshd: data dir ${data} is in use by another meshd (pid ${first.agent.pid}): ` +
      'stop that agent, or give this one another --data-dir\n',
  );
  expect(await snapshot(data)).toEqual(before);
  // The first agent never noticed: same identity, still serving.
  const status = await first.ctl('status', '-o', 'json');
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout).peerId).toBe(peerId);

  first.agent.kill('SIGKILL');
  await exited(first.agent);
  const third = await startLocalMeshd(data, AGENT_ARGS);
  cleanups.push(async () => {
    third.agent.kill('SIGTERM');
    await exited(third.agent);
  });
  const after = await third.ctl('status', '-o', 'json');
  expect(JSON.parse(after.stdout).peerId).toBe(peerId);
  expect((await readFile(join(data, 'meshd.lock'), 'utf8')).trim()).toBe(String(third.agent.pid));
}, 60_000);
