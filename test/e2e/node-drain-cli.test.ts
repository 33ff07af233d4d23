import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir } from '../support/agents.js';
import { closedMesh, startLocalMeshd } from '../support/local-meshd.js';
import { bundle, exited } from '../support/processes.js';

/**
 * Issue 18, `meshctl node drain|eligible` from the command line against a real meshd: signed with the operator
 * key in a closed mesh, shown by `node list`, refused with a clear line in an open mesh or for an unknown node.
 */
const cleanups: (() => Promise<void>)[] = [];
beforeAll(bundle, 120_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function meshd(dataDir: string, env: NodeJS.ProcessEnv = {}) {
  const started = await startLocalMeshd(dataDir, ['--driver', 'none', '--registry-listen', 'off'], env);
  cleanups.push(async () => {
    if (started.agent.exitCode === null && started.agent.signalCode === null) {
      started.agent.kill('SIGKILL');
      await exited(started.agent);
    }
  });
  return started;
}

test('node drain / node eligible: signed, listed, and refused where they cannot work', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const { key, tokenFor } = await closedMesh(tmp.path);
  const token = await tokenFor();
  const closed = await meshd(join(tmp.path, 'closed'), { MESH_JOIN_TOKEN: token });
  const name = JSON.parse((await closed.ctl('status', '-o', 'json')).stdout).name as string;
  const eligibility = async () =>
    (JSON.parse((await closed.ctl('-o', 'json', 'node', 'list')).stdout) as { eligible: boolean }[]).map(
      (n) => n.eligible,
    );

  expect(await eligibility()).toEqual([true]);
  expect((await closed.ctl('node', 'list')).stdout).toMatch(/ELIGIBILITY[\s\S]*eligible/);
  const drained = await closed.ctl('--operator-key', key, 'node', 'drain', name);
  expect(drained.stderr).toBe('');
  expect(drained.stdout).toMatch(/^node \S+ drained\n$/);
  expect(await eligibility()).toEqual([false]);
  expect((await closed.ctl('node', 'list')).stdout).toMatch(/drained/);
  expect((await closed.ctl('node', 'status', name)).stdout).toMatch(/Eligibility:\s+drained/);
  expect((await closed.ctl('--operator-key', key, 'node', 'drain', name)).stdout).toMatch(/already drained/);
  expect((await closed.ctl('--operator-key', key, 'node', 'eligible', name)).stdout).toMatch(
    /eligible again/,
  );
  expect(await eligibility()).toEqual([true]);

  const unknown = await closed.ctl('--operator-key', key, 'node', 'drain', 'no-such-node');
  expect(unknown.code).not.toBe(0);
  expect(unknown.stderr).toMatch(/no-such-node/);

  const open = await meshd(join(tmp.path, 'open'));
  const refused = await open.ctl('node', 'drain', 'anything');
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/node drain needs a closed mesh/);
});
