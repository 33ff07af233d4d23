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
    expect(run.stderr).toBe('');
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
  const table = (await ctl('job', 'status', 'broken')).stdout;
  expect(table).toMatch(/^Status: +failed: 1 of 1 failed/m);
}, 120_000);
