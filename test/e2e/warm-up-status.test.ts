/**
 * Issue 18, the warm-up shown: a fresh agent holds new copies back for one lost period. `meshctl status` says so,
 * with the reason and the time left (and `-o json` carries it), and `job status` of a job waiting only for it
 * says why; once warmed up the row is gone and the copy starts. A real meshd and meshctl.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { AgentStatus } from '../../src/node/api/types.js';
import { tempDir, waitFor } from '../support/agents.js';
import { type MeshdAgent, startMeshd, stopMeshd } from '../support/meshd-mesh.js';
import { processesWith } from '../support/proc.js';
import { bundle, meshctl } from '../support/processes.js';

beforeAll(bundle, 60_000);

const marker = `mycel-warm-up-${randomUUID()}`;
let agent: MeshdAgent | undefined;
let root: Awaited<ReturnType<typeof tempDir>> | undefined;
afterAll(async () => {
  if (agent) await stopMeshd(agent);
  for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
  await root?.cleanup();
});

test('meshctl status shows the warm-up with its reason and time left; job status says the copy waits for it', async () => {
  root = await tempDir('mycel-warm-up-');
  const started = await startMeshd(root.path, 'fresh', [], {
    driver: 'exec',
    heartbeatIntervalMs: 250,
    suspectAfterMs: 1_000,
    lostAfterMs: 5_000,
  });
  agent = started;
  const ctl = (...args: string[]) => meshctl(['--api', started.api, '--data-dir', started.dataDir, ...args]);

  const table = (await ctl('status')).stdout;
  expect(table).toMatch(/^Warm-up: +[1-5]s left: new copies wait one lost period \(5s\) after start/m);
  const json = JSON.parse((await ctl('status', '-o', 'json')).stdout) as AgentStatus;
  expect(json.warmUp?.remainingMs).toBeGreaterThan(0);
  expect(json.warmUp?.remainingMs).toBeLessThanOrEqual(5_000);
  expect(json.warmUp?.reason).toMatch(/one lost period/);

  const file = join(root.path, 'early.yaml');
  await writeFile(
    file,
    ['name: early', 'driver: exec', 'command: sh', `args: ["-c", "sleep 300; true", "${marker}"]`, ''].join(
      '\n',
    ),
  );
  expect((await ctl('job', 'run', file)).code).toBe(0);
  let status = '';
  await waitFor('job status to name the warm-up', async () => {
    status = (await ctl('job', 'status', 'early')).stdout;
    return /held back/.test(status);
  });
  expect(status).toMatch(/^Status: +pending: 1 of 1 held back: this agent is warming up \(\d+s left\)$/m);
  expect(processesWith(marker)).toEqual([]);

  await waitFor('the copy to start once warmed up', () => processesWith(marker).length === 1, 15_000);
  expect((await ctl('status')).stdout).not.toMatch(/Warm-up/);
  expect(((await ctl('status', '-o', 'json')).stdout as string).includes('warmUp')).toBe(false);
  await waitFor('job status to say running', async () =>
    /^Status: +running$/m.test((await ctl('job', 'status', 'early')).stdout),
  );
});
