import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir } from '../support/agents.js';
import { closedMesh, startLocalMeshd } from '../support/local-meshd.js';
import { bundle, exited } from '../support/processes.js';

/**
 * `meshctl job promote` against a real meshd: in a closed mesh the promotion is an operator-signed job event
 * like `job stop`, refused without the key and counted once with it. (Its effect on a rollout is in
 * rollout-waves-exec.test.ts.)
 */
const cleanups: (() => Promise<void>)[] = [];
beforeAll(bundle, 120_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('job promote in a closed mesh: signed by the operator, refused without the key, and once is enough', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const { key, tokenFor } = await closedMesh(tmp.path);
  const token = await tokenFor();
  const closed = await startLocalMeshd(
    join(tmp.path, 'agent'),
    ['--driver', 'none', '--registry-listen', 'off'],
    { MESH_JOIN_TOKEN: token, MESH_HOME: join(tmp.path, 'no-home') },
  );
  cleanups.push(async () => {
    closed.agent.kill('SIGKILL');
    await exited(closed.agent);
  });
  const manual = join(tmp.path, 'manual.yaml');
  await writeFile(
    manual,
    'name: manual\ndriver: exec\ncommand: /bin/sleep\ncount: 0\nupdate: { waves: [10, 100], autoPromote: false }\n',
  );
  const auto = join(tmp.path, 'auto.yaml');
  await writeFile(auto, 'name: auto\ndriver: exec\ncommand: /bin/sleep\ncount: 0\n');
  for (const file of [manual, auto])
    expect((await closed.ctl('--operator-key', key, 'job', 'run', file)).stdout).toMatch(
      /version 1 submitted/,
    );

  const unsigned = await closed.ctl('job', 'promote', 'manual');
  expect(unsigned.code).toBe(1);
  expect(unsigned.stderr).toMatch(/operator\.key|operator key/i);

  const refused = await closed.ctl('--operator-key', key, 'job', 'promote', 'auto');
  expect([refused.code, refused.stderr]).toEqual([
    1,
    'meshctl: job "auto" version 1 does not wait for promotion: its update block does not set autoPromote: false\n',
  ]);
  const missing = await closed.ctl('--operator-key', key, 'job', 'promote', 'nope');
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/no job named "nope"/);

  const promoted = await closed.ctl('--operator-key', key, 'job', 'promote', 'manual');
  expect([promoted.code, promoted.stderr, promoted.stdout]).toEqual([
    0,
    '',
    'job "manual" version 1 promoted: its rollout goes on once its first wave is healthy\n',
  ]);
  const again = await closed.ctl('--operator-key', key, 'job', 'promote', 'manual');
  expect(again.stdout).toBe('job "manual" version 1 was already promoted\n');
  // The promotion decides no status: the job still runs, still at version 1.
  const status = JSON.parse((await closed.ctl('-o', 'json', 'job', 'status', 'manual')).stdout);
  expect(status).toMatchObject({ version: 1, statusBy: expect.any(String) });
  expect(status.status).not.toBe('stopped');
}, 90_000);
