/**
 * Issue 18, the SIGTERM path itself: a real meshd process joins an in-process agent and is sent SIGTERM. Before it
 * exits, its node record says it is leaving, and the observer holds that mark within the heartbeat + 2 s, long before
 * the lost period (20 s) would have told it anything (clean-stop.test.ts shows what placement does with the mark).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import { joinAddress, startAgent, tempDir, testConfig, waitFor } from '../support/agents.js';
import { startLocalMeshd } from '../support/local-meshd.js';
import { bundle, exited } from '../support/processes.js';

beforeAll(bundle, 60_000);

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('SIGTERM: meshd marks its record leaving before it exits, and a peer holds the mark at once', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const observer: Agent = await startAgent(
    testConfig({ dataDir: join(tmp.path, 'observer'), name: 'observer', lostAfterMs: 20_000 }),
  );
  cleanups.push(() => observer.stop());
  const meshd = await startLocalMeshd(join(tmp.path, 'meshd'), [
    ...['--driver', 'none', '--registry-listen', 'off', '--name', 'leaver', '--join', joinAddress(observer)],
    ...['--heartbeat-interval-ms', '250', '--suspect-after-ms', '1250', '--lost-after-ms', '20000'],
  ]);
  cleanups.push(async () => {
    if (meshd.agent.exitCode === null && meshd.agent.signalCode === null) {
      meshd.agent.kill('SIGKILL');
      await exited(meshd.agent);
    }
  });
  const peerId = JSON.parse((await meshd.ctl('status', '-o', 'json')).stdout).peerId as string;
  const record = () => observer.state.state.nodes().find((n) => n.peerId === peerId);
  await waitFor(
    'the observer to hold the meshd record and hear it',
    () => {
      const seen = observer.peers().find((p) => p.peerId === peerId);
      return record() !== undefined && seen?.liveness === 'alive';
    },
    30_000,
  );
  expect(record()?.leaving).toBeUndefined();

  const sentAt = Date.now();
  const exit = exited(meshd.agent);
  meshd.agent.kill('SIGTERM');
  await waitFor('the leaving mark to reach the observer', () => record()?.leaving !== undefined, 5_000);
  expect(Date.now() - sentAt).toBeLessThan(2_250);
  expect(await exit).toBe(0);
});
