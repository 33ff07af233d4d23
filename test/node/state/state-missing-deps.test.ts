import { afterEach, expect, test } from 'vitest';
import { alloc, nodeRecord, replica } from '../../crdt/replicas.js';
import { converged, type TestMesh, testMesh } from '../../e2e/state-support.js';
import { joinAddress, waitFor } from '../../support/agents.js';

let mesh: TestMesh;
afterEach(() => mesh.stopAll());

const dialerSessions = async (agent: TestMesh['agents'][number]) =>
  (await agent.metrics.stateSyncSessions.get()).values
    .filter((v) => v.labels.role === 'dialer')
    .reduce((sum, v) => sum + v.value, 0);

test('a change whose dependencies exist nowhere is retried with backoff, not a session every 500 ms', async () => {
  mesh = testMesh();
  // Periodic sync far out: every session in the window below is a missing-dependency retry.
  const state = { syncIntervalMs: 3_600_000, sessionTimeoutMs: 10_000 };
  const a = await mesh.start('a', { state });
  const b = await mesh.start('b', { join: [joinAddress(a)], state });
  await waitFor('the first sync', () => converged([a, b]) && !a.state.isSyncing(b.peerId));

  // A device nobody can reach wrote three changes; `a` got the first and the third, never the second.
  const ghost = replica('ghost', 9);
  const first = ghost.putNodeRecord(nodeRecord('ghost'), 1);
  ghost.putAllocStatus(alloc('ghost', 'x1', 'running'), 2);
  const third = ghost.putAllocStatus(alloc('ghost', 'x2', 'running'), 3);
  const before = await dialerSessions(a);
  // `b` relays them by gossip: the third makes `a` ask `b` in a session, which cannot help either.
  b.state.publish([...first, ...third]);
  await waitFor('the hole', () => a.state.state.missingDeps().length > 0);
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  // Fixed 500 ms retries would run about eight sessions in these 4 s; doubling from 500 ms runs at most four.
  expect((await dialerSessions(a)) - before).toBeLessThanOrEqual(5);
  expect((await dialerSessions(a)) - before).toBeGreaterThanOrEqual(2);
  expect(a.state.state.missingDeps()).toEqual(['node/ghost']);
});
