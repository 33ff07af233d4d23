import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir, waitFor } from '../support/agents.js';
import { startLocalMeshd } from '../support/local-meshd.js';
import { bundle, exited } from '../support/processes.js';

/**
 * Issue 18, batch output survives completion, through a real meshd (exec driver) and meshctl: a finished batch
 * copy shows `complete` with its exit code in `alloc list` and `alloc status` (and -o json), and `alloc logs`
 * still reads what it printed, which includes the node's name as MYCEL_NODE. (A failed copy's exit code and logs
 * are covered over the reconciler in reconciler-finished.test.ts: placement replaces failed copies at once.)
 */
const cleanups: (() => Promise<void>)[] = [];
const GC_AGE_MS = 15_000;
beforeAll(bundle, 120_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Row {
  allocId: string;
  job: string;
  state: string | null;
  exitCode?: number;
}

test('a finished batch copy keeps its logs and shows complete with its exit code', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const timings = ['--heartbeat-interval-ms', '250', '--suspect-after-ms', '1000', '--lost-after-ms', '2000'];
  const agent = await startLocalMeshd(join(tmp.path, 'data'), [
    '--name',
    'batch-gate',
    '--driver',
    'exec',
    '--registry-listen',
    'off',
    // Short enough to see the GC remove the copy within the test, long enough to read it first.
    '--gc-finished-max-age-ms',
    String(GC_AGE_MS),
    ...timings,
  ]);
  cleanups.push(async () => {
    if (agent.agent.exitCode === null && agent.agent.signalCode === null) {
      agent.agent.kill('SIGTERM');
      await exited(agent.agent);
    }
  });
  const file = join(tmp.path, 'report.yaml');
  const job = ['name: report', 'type: batch', 'driver: exec', 'command: sh'];
  await writeFile(
    file,
    [...job, 'args: ["-c", "echo report from $MYCEL_NODE; echo done >&2"]', ''].join('\n'),
  );
  const run = await agent.ctl('job', 'run', file);
  expect(run.code, run.stderr).toBe(0);

  let rows: Row[] = [];
  await waitFor(
    'the batch copy to finish',
    async () => {
      rows = JSON.parse((await agent.ctl('-o', 'json', 'alloc', 'list')).stdout) as Row[];
      return rows.some((r) => r.state === 'complete');
    },
    30_000,
    () => JSON.stringify(rows),
  );
  expect(rows).toEqual([expect.objectContaining({ job: 'report', state: 'complete', exitCode: 0 })]);
  const report = rows[0]!;
  // Read a while after completion: nothing removes a finished copy's remains when it finishes.
  await new Promise((resolve) => setTimeout(resolve, 1_000));

  const table = (await agent.ctl('alloc', 'list')).stdout;
  expect(table).toMatch(
    new RegExp(`${report.allocId}\\s+report\\s+1\\s+batch-gate\\s+\\S+\\s+complete \\(exit 0\\)`),
  );
  expect((await agent.ctl('alloc', 'status', report.allocId)).stdout).toMatch(/State:\s+complete \(exit 0\)/);
  const status = JSON.parse((await agent.ctl('-o', 'json', 'alloc', 'status', report.allocId)).stdout);
  expect(status.status).toMatchObject({ state: 'complete', exitCode: 0 });

  const logs = await agent.ctl('alloc', 'logs', report.allocId);
  expect(logs.code).toBe(0);
  // meshctl prints the workload's stderr on its own.
  expect([logs.stdout, logs.stderr]).toEqual(['report from batch-gate\n', 'done\n']);

  // The finished-copy GC (set by the flag) removes the copy's remains; its replicated status stays.
  let gone = await agent.ctl('alloc', 'logs', report.allocId);
  await waitFor(
    'the GC to remove the finished copy',
    async () => {
      gone = await agent.ctl('alloc', 'logs', report.allocId);
      return gone.code !== 0;
    },
    GC_AGE_MS + 15_000,
    () => gone.stdout,
  );
  expect(gone.stderr).toMatch(/batch-gate.*finished and the finished-copy GC removed it with its logs/);
  const after = JSON.parse((await agent.ctl('-o', 'json', 'alloc', 'list')).stdout) as Row[];
  expect(after).toEqual([
    expect.objectContaining({ allocId: report.allocId, state: 'complete', exitCode: 0 }),
  ]);
});
