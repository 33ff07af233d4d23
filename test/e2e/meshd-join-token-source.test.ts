/**
 * Issue 18: the join token holds the mesh key, and argv is readable by every local user. Real meshd processes:
 * `--join-token-file` and MESH_JOIN_TOKEN join a closed mesh quietly; `--join-token` still works but warns.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ARGV_TOKEN_WARNING } from '../../src/node/setup/join-token-source.js';
import { tempDir, testMesh } from '../support/agents.js';
import { startLocalMeshd } from '../support/local-meshd.js';
import { bundle, exited, spawnMeshd } from '../support/processes.js';

beforeAll(bundle, 60_000);

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const AGENT_ARGS = ['--driver', 'none', '--registry-listen', 'off'];

async function closedMeshAgent(args: string[], env: NodeJS.ProcessEnv = {}) {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const meshd = await startLocalMeshd(join(tmp.path, 'data'), [...AGENT_ARGS, ...args], env);
  cleanups.push(async () => {
    meshd.agent.kill('SIGTERM');
    await exited(meshd.agent);
  });
  return meshd;
}

test('--join-token-file joins the closed mesh without a warning', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const file = join(tmp.path, 'join.token');
  await writeFile(file, `${(await testMesh()).joinToken()}\n`, { mode: 0o600 });
  const { agent } = await closedMeshAgent(['--join-token-file', file]);
  expect(agent.output()).toMatch(/"mesh":"closed"/);
  expect(agent.output()).not.toContain('--join-token,');
});

test('MESH_JOIN_TOKEN joins the closed mesh without a warning', async () => {
  const { agent } = await closedMeshAgent([], { MESH_JOIN_TOKEN: (await testMesh()).joinToken() });
  expect(agent.output()).toMatch(/"mesh":"closed"/);
  expect(agent.output()).not.toContain('--join-token,');
});

test('--join-token in argv works and warns that `ps` shows it', async () => {
  const { agent } = await closedMeshAgent(['--join-token', (await testMesh()).joinToken()]);
  expect(agent.output()).toMatch(/"mesh":"closed"/);
  const warning = agent
    .output()
    .split('\n')
    .filter((line) => line.includes(ARGV_TOKEN_WARNING));
  expect(warning).toHaveLength(1);
  expect(JSON.parse(warning[0] ?? '{}').level).toBe(40);
});

test('an empty, missing or garbled --join-token-file: one line naming the file', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const empty = join(tmp.path, 'empty.token');
  await writeFile(empty, '\n');
  const garbled = join(tmp.path, 'garbled.token');
  await writeFile(garbled, 'mycel1.not-a-token\n');
  for (const [file, said] of [
    [empty, `--join-token-file ${empty} is empty: put the output of \`meshctl mesh join-token\` in it\n`],
    [join(tmp.path, 'nope'), `cannot read --join-token-file ${join(tmp.path, 'nope')}: `],
    [garbled, `--join-token-file ${garbled}: `],
  ] as const) {
    const agent = spawnMeshd([
      '--data-dir',
      join(tmp.path, 'data'),
      '--join-token-file',
      file,
      ...AGENT_ARGS,
    ]);
    expect(await exited(agent)).toBe(2);
    expect(agent.output()).toMatch(new RegExp(`^${said.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    expect(agent.output().trim().split('\n')).toHaveLength(1);
  }
});
