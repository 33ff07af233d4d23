import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir, waitFor } from '../support/agents.js';
import { type MeshdAgent, startMeshdMesh, stopMeshd } from '../support/meshd-mesh.js';
import { bundle, meshctl } from '../support/processes.js';

beforeAll(bundle, 60_000);

let agents: MeshdAgent[] = [];
let root: Awaited<ReturnType<typeof tempDir>> | undefined;
afterAll(async () => {
  await Promise.all(agents.map(stopMeshd));
  await root?.cleanup();
});

const JOBS: Record<string, string[]> = {
  // Fails at once and is not restarted, on whichever node it lands.
  broken: ['command: /bin/false', 'restart:', '  attempts: 0'],
  // More millicores than any device has: placement can put it nowhere.
  greedy: ['command: /bin/sleep', 'args: ["600"]', 'resources:', '  cpu: 1000000'],
  steady: ['command: /bin/sleep', 'args: ["600"]'],
  once: ['type: batch', 'command: /bin/true'],
};

test('meshctl job list tells failed, unplaceable, finished and running jobs apart', async () => {
  root = await tempDir('mycel-job-status-');
  ({ agents } = await startMeshdMesh(root.path, ['truth-1', 'truth-2'], {
    driver: 'exec',
    heartbeatIntervalMs: 250,
    suspectAfterMs: 1_500,
    lostAfterMs: 5_000,
  }));
  const [first] = agents;
  const ctl = (...args: string[]) => meshctl(['--api', first!.api, '--data-dir', first!.dataDir, ...args]);
  for (const [name, lines] of Object.entries(JOBS)) {
    const file = join(root.path, `${name}.yaml`);
    await writeFile(file, [`name: ${name}`, 'driver: exec', 'count: 1', ...lines, ''].join('\n'));
    const run = await ctl('job', 'run', file);
    if (name === 'greedy') {
      expect(run.code).toBe(2);
      expect(run.stdout).toMatch(
        /^placement: 0 of 1 copy placed\n {2}slot 0 unplaced: .*cpu exhausted on 2 nodes/m,
      );
      expect(run.stderr).toMatch(
        /job "greedy" is stored, but 1 of 1 copies cannot be placed: .*cpu exhausted/,
      );
    } else {
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(`job "${name}" version 1 submitted\nplacement: 1 of 1 copy placed\n`);
    }
  }

  let list = '';
  await waitFor(
    'job list to show each job for what it is',
    async () => {
      list = (await ctl('job', 'list')).stdout;
      return (
        /^broken +service +failed +1 +1 +0\/1 .*1 of 1 failed/m.test(list) &&
        /^greedy +service +pending +1 +1 +0\/1 .*1 of 1 cannot be placed: .*cpu exhausted on 2 nodes/m.test(
          list,
        ) &&
        /^once +batch +complete +1 +1 /m.test(list) &&
        /^steady +service +running +1 +1 +1\/1 /m.test(list)
      );
    },
    30_000,
    () => `job list said:\n${list}`,
  );

  const json = JSON.parse((await ctl('-o', 'json', 'job', 'status', 'greedy')).stdout);
  expect(json).toMatchObject({
    status: 'pending',
    desired: 'running',
    copies: { wanted: 1, running: 0, unplaced: 1 },
  });
  expect(json.reason).toMatch(/cpu exhausted on 2 nodes/);
  // Each failed copy is replaced (no reschedule backoff yet), so a replacement may be starting at any moment.
  let table = '';
  await waitFor(
    'job status to show the failure',
    async () => {
      table = (await ctl('job', 'status', 'broken')).stdout;
      return /^Status: +failed: 1 of 1 failed/m.test(table);
    },
    15_000,
    () => table,
  );
}, 120_000);

test('meshctl job run reports a partial placement and exits 2, and the job is stored', async () => {
  const [first] = agents;
  if (!first || !root) throw new Error('the mesh of the test before is needed');
  const ctl = (...args: string[]) => meshctl(['--api', first.api, '--data-dir', first.dataDir, ...args]);
  const nodes = JSON.parse((await ctl('-o', 'json', 'node', 'list')).stdout) as {
    cpu: number;
    reserved: { cpu: number };
  }[];
  // More than half of the smaller node's free millicores: one copy fits per node, so the third has nowhere.
  const cpu = Math.floor(Math.min(...nodes.map((n) => n.cpu - n.reserved.cpu)) * 0.55);
  const file = join(root.path, 'wide.yaml');
  await writeFile(
    file,
    [
      'name: wide',
      'driver: exec',
      'command: /bin/sleep',
      'args: ["600"]',
      'count: 3',
      'resources:',
      `  cpu: ${cpu}`,
      '',
    ].join('\n'),
  );
  const run = await ctl('job', 'run', file);
  expect(run.code).toBe(2);
  expect(run.stdout).toMatch(
    /^job "wide" version 1 submitted\nplacement: 2 of 3 copies placed\n {2}slot \d unplaced: .*cpu exhausted on 2 nodes/,
  );
  expect(run.stderr).toMatch(/job "wide" is stored, but 1 of 3 copies cannot be placed/);

  const json = await ctl('-o', 'json', 'job', 'run', file);
  expect(json.code).toBe(2);
  expect(JSON.parse(json.stdout)).toMatchObject({
    name: 'wide',
    outcome: 'unchanged',
    placement: { computed: true, placed: 2, count: 3 },
  });
  await waitFor('the stored job to run degraded', async () =>
    /^wide +service +degraded +1 +3 +2\/3 /m.test((await ctl('job', 'list')).stdout),
  );
}, 60_000);
