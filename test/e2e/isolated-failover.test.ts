/**
 * Issue 18, the two-device site: kill -9 the agent that runs a copy and the survivor hears no other device. By
 * default it replaces nothing (a cut-off device must not take the fleet's work) and says why wherever the copy is
 * listed; a job with `disconnect.whenIsolated: replace` is started on the survivor. Real meshd and meshctl.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir, waitFor } from '../support/agents.js';
import {
  apiGet,
  killHard,
  type MeshdAgent,
  restartMeshd,
  startMeshdMesh,
  stopMeshd,
} from '../support/meshd-mesh.js';
import { processesWith } from '../support/proc.js';
import { bundle, meshctl } from '../support/processes.js';

beforeAll(bundle, 60_000);

const marker = `mycel-isolated-${randomUUID()}`;
let agents: MeshdAgent[] = [];
let root: Awaited<ReturnType<typeof tempDir>> | undefined;
afterAll(async () => {
  await Promise.all(agents.map(stopMeshd));
  for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
  await root?.cleanup();
});

const REASON = 'not replaced: this device hears no other device';

test('a two-device site: the survivor says why it replaces nothing, or replaces when the job says so; the heal keeps count', async () => {
  root = await tempDir('mycel-isolated-');
  const timings = {
    driver: 'exec',
    heartbeatIntervalMs: 250,
    suspectAfterMs: 1_000,
    lostAfterMs: 2_500,
  } as const;
  ({ agents } = await startMeshdMesh(root.path, ['primary', 'standby'], timings));
  const [primary, standby] = agents as [MeshdAgent, MeshdAgent];
  const ctl = (...args: string[]) => meshctl(['--api', standby.api, '--data-dir', standby.dataDir, ...args]);
  const jobs = { keep: [] as string[], failover: ['disconnect: { whenIsolated: replace }'] };
  for (const [name, extra] of Object.entries(jobs)) {
    const file = join(root.path, `${name}.yaml`);
    await writeFile(
      file,
      [
        `name: ${name}`,
        'driver: exec',
        'command: sh',
        `args: ["-c", "sleep 300; true", "${marker}-${name}"]`,
        'count: 1',
        'affinities: [{ attribute: name, operator: "=", value: primary, weight: 100 }]',
        ...extra,
        '',
      ].join('\n'),
    );
    expect((await ctl('job', 'run', file)).code).toBe(0);
  }
  await waitFor('both copies running on primary', () => processesWith(marker).length === 2, 20_000);

  await killHard(primary);
  // The copies of the killed agent keep running as orphans (as on a device whose agent crashed); the survivor
  // starts its own copy of `failover` beside them.
  await waitFor(
    'the survivor to start its copy of failover',
    () => processesWith(`${marker}-failover`).length === 2,
    20_000,
  );
  const status = await ctl('job', 'status', 'keep');
  expect(status.stdout).toContain(REASON);
  const detail = JSON.parse((await ctl('job', 'status', 'keep', '-o', 'json')).stdout);
  expect(detail.reason).toContain(REASON);
  expect(processesWith(`${marker}-keep`)).toHaveLength(1);

  const list = (await ctl('job', 'list')).stdout;
  expect(list).toMatch(new RegExp(`^keep .*${REASON}`, 'm'));
  const allocs = (await ctl('alloc', 'list', '--job', 'keep')).stdout;
  expect(allocs).toMatch(/unknown \(not replaced: this device hears no other device\)/);
  const failover = (await ctl('job', 'status', 'failover')).stdout;
  expect(failover).not.toContain(REASON);

  // The heal: the primary comes back (adopting its copies), and the reconnect rule keeps exactly one copy of
  // the slot both sides ran: the original (best_score, a tie keeps it), so the standby's replacement stops.
  const { addresses } = await apiGet<{ addresses: string[] }>(standby, '/v1/status');
  await restartMeshd(primary, addresses, timings);
  await waitFor(
    'exactly one copy of failover once both hear each other',
    () => processesWith(`${marker}-failover`).length === 1,
    20_000,
  );
  await waitFor('job status to say running again', async () =>
    /^Status: +running$/m.test((await ctl('job', 'status', 'keep')).stdout),
  );
  expect(processesWith(`${marker}-keep`)).toHaveLength(1);
});
