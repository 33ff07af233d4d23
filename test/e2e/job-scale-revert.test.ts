import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir, waitFor } from '../support/agents.js';
import { bundle, meshctl, spawnMeshd } from '../support/processes.js';

const cleanups: (() => Promise<void>)[] = [];
beforeAll(bundle, 120_000);
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

test('job scale and job revert submit new versions built from stored specs', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const dataDir = join(tmp.path, 'data');
  const agent = spawnMeshd([
    '--data-dir',
    dataDir,
    '--listen',
    '/ip4/127.0.0.1/tcp/0',
    '--api',
    '127.0.0.1:0',
    '--driver',
    'none',
  ]);
  cleanups.push(async () => void agent.kill('SIGKILL'));
  let api = '';
  await waitFor('the control API', () => {
    api = /"api":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(agent.output())?.[1] ?? '';
    return api !== '';
  });
  const ctl = (...args: string[]) => meshctl(['--api', api, '--data-dir', dataDir, ...args]);
  const file = join(tmp.path, 'web.yaml');
  await writeFile(
    file,
    'name: web\ndriver: exec\ncommand: /bin/sleep\nargs: ["600"]\nrestart: { delay: 1s }\n',
  );
  // Relay-only agent: stored, placed nowhere, exit 2, as job run says.
  expect((await ctl('job', 'run', file)).stdout).toMatch(/^job "web" version 1 submitted/);

  const scaled = await ctl('job', 'scale', 'web', '3');
  expect(scaled.code).toBe(2);
  expect(scaled.stderr).toMatch(/3 of 3 copies cannot be placed: .*missing driver exec/);
  expect(scaled.stdout).toMatch(/^job "web" version 2 submitted\nplacement: 0 of 3 copies placed/);
  const status = async () => JSON.parse((await ctl('-o', 'json', 'job', 'status', 'web')).stdout);
  expect(await status()).toMatchObject({
    version: 2,
    spec: { count: 3, args: ['600'], restart: { delay: 1_000 } },
  });

  const reverted = await ctl('job', 'revert', 'web', '1');
  expect(reverted.stdout).toMatch(/^job "web" version 3 submitted/);
  expect((await status()).spec.count).toBe(1);
  // The same spec again changes nothing.
  expect((await ctl('job', 'revert', 'web', '3')).stdout).toMatch(/^job "web" version 3 unchanged/);

  const missing = await ctl('job', 'revert', 'web', '9');
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/job "web" has no version 9; it has 3, 2, 1/);
  const badCount = await ctl('job', 'scale', 'web', 'many');
  expect(badCount.code).toBe(2);
  expect(badCount.stderr).toMatch(/count must be a whole number of copies, not "many"/);
  const noJob = await ctl('job', 'scale', 'nope', '2');
  expect(noJob.code).toBe(1);
  expect(noJob.stderr).toMatch(/no job named "nope"/);
  const tooMany = await ctl('job', 'scale', 'web', '99999999');
  expect([tooMany.code, tooMany.stderr]).toEqual([2, 'meshctl: count must be at most 10000, not 99999999\n']);

  // A system or periodic job has no count: the refusal says so, not a line of a spec file nobody wrote.
  const system = join(tmp.path, 'exporter.yaml');
  await writeFile(system, 'name: exporter\ntype: system\ndriver: exec\ncommand: /bin/sleep\nargs: ["600"]\n');
  await ctl('job', 'run', system);
  const scaledSystem = await ctl('job', 'scale', 'exporter', '3');
  expect(scaledSystem.code).toBe(2);
  expect(scaledSystem.stderr).toMatch(/^meshctl: job "exporter" is a system job: .* no count to scale/);
  const periodic = join(tmp.path, 'upload.yaml');
  await writeFile(
    periodic,
    'name: upload\ntype: periodic\nschedule: "0 3 * * *"\ndriver: exec\ncommand: /bin/true\n',
  );
  await ctl('job', 'run', periodic);
  const scaledPeriodic = await ctl('job', 'scale', 'upload', '2');
  expect(scaledPeriodic.code).toBe(2);
  expect(scaledPeriodic.stderr).toMatch(/^meshctl: job "upload" is a periodic job: .* no count to scale/);
  expect(JSON.parse((await ctl('-o', 'json', 'job', 'status', 'exporter')).stdout).version).toBe(1);
}, 60_000);
