import { multiaddr } from '@multiformats/multiaddr';
import { afterEach, expect, test } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import { joinAddress, waitFor } from '../support/agents.js';
import {
  converged,
  describeViews,
  jobFile,
  Partition,
  startAgents,
  type TestMesh,
  testMesh,
} from './state-support.js';

let mesh: TestMesh;
afterEach(() => mesh.stopAll());

async function cut(agents: readonly Agent[], partition: Partition): Promise<void> {
  partition.active = true;
  await Promise.all(
    agents.flatMap((agent) =>
      agent.host
        .getConnections()
        .filter((c) => partition.blocks(agent.peerId, c.remotePeer.toString()))
        .map((c) => c.close().catch(() => c.abort(new Error('partitioned')))),
    ),
  );
}

test('two halves diverge under a partition and agree on one state after it heals', async () => {
  mesh = testMesh();
  const partition = new Partition();
  const agents = await startAgents(mesh, 6, { partition });
  const left = agents.slice(0, 3);
  const right = agents.slice(3);
  for (const a of left) partition.assign(a.peerId, 0);
  for (const a of right) partition.assign(a.peerId, 1);
  const [l0, l1] = left as [Agent, Agent, Agent];
  const [r0, r1] = right as [Agent, Agent, Agent];

  await l0.state.submitJob(jobFile('shared', ['count: 1']));
  await waitFor(
    'the first version everywhere',
    () => converged(agents),
    15_000,
    () => describeViews(agents),
  );

  await cut(agents, partition);
  await waitFor('no connection across the cut', () =>
    agents.every((a) =>
      a.host.getConnections().every((c) => !partition.blocks(a.peerId, c.remotePeer.toString())),
    ),
  );
  await waitFor('each half still connected inside', () =>
    [...left, ...right].every((a) => a.host.getConnections().length > 0),
  );

  await l0.state.submitJob(jobFile('alpha'));
  const leftUpdate = await l1.state.submitJob(jobFile('shared', ['count: 2']));
  await r0.state.submitJob(jobFile('beta'));
  // The later wall-clock time wins between concurrent versions with the same number.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const rightUpdate = await r1.state.submitJob(jobFile('shared', ['count: 3']));
  expect([leftUpdate.version, rightUpdate.version]).toEqual([2, 2]);

  await waitFor(
    'each half converged on its own',
    () => converged(left) && converged(right),
    15_000,
    () => describeViews(agents),
  );
  expect(l0.state.state.job('beta')).toBeUndefined();
  expect(r0.state.state.job('alpha')).toBeUndefined();
  expect(l0.state.state.job('shared')?.current.spec).toMatchObject({ count: 2 });

  partition.active = false;
  await l0.host.dial(multiaddr(joinAddress(r0)));
  await waitFor(
    'one state everywhere after healing',
    () => converged(agents),
    30_000,
    () => describeViews(agents),
  );
  for (const agent of agents) {
    expect(agent.state.state.jobs().map((j) => j.name)).toEqual(['alpha', 'beta', 'shared']);
    const shared = agent.state.state.job('shared');
    expect(shared?.current.version).toBe(2);
    expect(shared?.current.spec).toMatchObject({ count: 3 });
    // The losing concurrent update stays in the history, the same on every agent.
    expect(shared?.history.map((v) => [v.version, (v.spec as { count: number }).count])).toEqual([
      [2, 3],
      [2, 2],
      [1, 1],
    ]);
  }
});
