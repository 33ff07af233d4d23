import { afterAll, expect, test } from 'vitest';
import { signJobEvent } from '../../src/crdt/job-auth.js';
import { parseJobFile } from '../../src/crdt/job-file.js';
import { signValue } from '../../src/crdt/signature.js';
import { signedTrustChange, TRUST_DOMAIN, type TrustChange } from '../../src/crdt/trust.js';
import type { Agent } from '../../src/node/agent.js';
import { stateRoutes } from '../../src/node/api/routes/state-routes.js';
import type { NodeInfo } from '../../src/node/api/types.js';
import { ExecDriver } from '../../src/node/drivers/exec-driver.js';
import {
  FAST_WORKLOADS,
  startAgent,
  type TestMesh,
  tempDir,
  testConfig,
  testMesh,
  waitFor,
} from '../support/agents.js';

/**
 * Issue 18, `node drain` / `node eligible`: an operator-signed trust change. Three real agents of a closed mesh,
 * real processes: the drained device stops its copy and the others run all of them; the node list says so; made
 * eligible again, the device takes a copy once one needs a home.
 */
const agents: Agent[] = [];
const dirs = new Map<Agent, string>();
const cleanups: (() => Promise<void>)[] = [];
let mesh: TestMesh;

afterAll(async () => {
  for (const agent of agents) {
    const plan = agent.state.planJob('web', { kind: 'stop' }, mesh.operator.id);
    if (plan.event) {
      await agent.state
        .commitJob('web', signJobEvent('web', plan.event, mesh.operator.id, mesh.operator.sign))
        .catch(() => {});
    }
  }
  await new Promise((r) => setTimeout(r, 1_500));
  await Promise.all(agents.map((a) => a.stop()));
  for (const [agent, dataDir] of dirs) {
    const driver = new ExecDriver({ owner: agent.peerId, dataDir });
    for (const h of await driver.list()) await driver.stop(h.allocId, { graceMs: 100 });
    await driver.close();
  }
  await Promise.all(cleanups.map((c) => c()));
});

async function start(name: string, joinToken: string): Promise<Agent> {
  const dir = await tempDir();
  cleanups.push(dir.cleanup);
  const agent = await startAgent(
    testConfig({ dataDir: dir.path, name, joinToken, driver: 'exec' }),
    FAST_WORKLOADS,
  );
  agents.push(agent);
  dirs.set(agent, dir.path);
  return agent;
}

/** What really runs on `agent`'s device, read from its data dir and /proc, not from its own reports. */
async function runningOn(agent: Agent): Promise<string[]> {
  const driver = new ExecDriver({ owner: agent.peerId, dataDir: dirs.get(agent)! });
  try {
    return (await driver.list()).filter((h) => h.state === 'running').map((h) => h.allocId);
  } finally {
    await driver.close();
  }
}

function signed(kind: TrustChange['kind'], subject: string): TrustChange {
  const change = { kind, subject, at: Date.now() };
  return signedTrustChange(change, signValue(TRUST_DOMAIN, change, mesh.operator.id, mesh.operator.sign));
}

async function nodeList(agent: Agent): Promise<NodeInfo[]> {
  const route = stateRoutes(agent).find((r) => r.method === 'GET' && r.path === '/v1/nodes')!;
  const answer = await route.handler({
    params: {},
    query: new URLSearchParams(),
    body: async () => undefined,
    signal: new AbortController().signal,
  });
  return (answer as { json: NodeInfo[] }).json;
}

test('a drained device gives up its copy and takes none; made eligible, it takes work again', async () => {
  mesh = await testMesh();
  const a = await start('a', mesh.joinToken());
  const b = await start('b', mesh.joinToken([a]));
  const c = await start('c', mesh.joinToken([a]));
  // Placement places on the devices it hears: all three must hear each other before the job, or two copies
  // share a device for good (running copies do not move).
  await waitFor('three members holding each other’s records and hearing each other', () =>
    [a, b, c].every((x) => x.state.state.nodes().length === 3 && x.status().peers.alive === 2),
  );
  const parsed = parseJobFile(
    [
      'name: web',
      'driver: exec',
      'command: /bin/sleep',
      'args: ["300"]',
      'count: 3',
      'resources: { cpu: 20, memory: 8 }',
    ].join('\n'),
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const plan = a.state.planJob('web', { kind: 'submit', spec: parsed.spec }, mesh.operator.id);
  await a.state.commitJob('web', signJobEvent('web', plan.event!, mesh.operator.id, mesh.operator.sign));
  await waitFor('one copy on each device', async () =>
    (await Promise.all([a, b, c].map(runningOn))).every((running) => running.length === 1),
  );

  await b.state.addTrustChange(signed('drain-node', c.peerId));
  await waitFor('the drained device to stop its copy', async () => (await runningOn(c)).length === 0, 20_000);
  await waitFor('the others to run all three copies', async () => {
    const running = await Promise.all([a, b].map(runningOn));
    return running.flat().length === 3;
  });
  await waitFor('every agent to list c as drained', async () =>
    (await Promise.all(agents.map(nodeList))).every((list) =>
      list.every((n) => n.eligible === (n.peerId !== c.peerId)),
    ),
  );
  // It stays drained: nothing is started on it again.
  await new Promise((r) => setTimeout(r, 1_000));
  expect(await runningOn(c)).toEqual([]);

  // Eligible again: nothing that runs moves back (stability), but a copy that needs a home may go there.
  await a.state.addTrustChange(signed('eligible-node', c.peerId));
  await waitFor('every agent to list c as eligible', async () =>
    (await Promise.all(agents.map(nodeList))).every((list) => list.every((n) => n.eligible)),
  );
  await b.state.addTrustChange(signed('drain-node', b.peerId));
  await waitFor('c to take a copy from the drained b', async () => (await runningOn(c)).length >= 1, 20_000);
  await waitFor('b to have stopped its copy', async () => (await runningOn(b)).length === 0, 20_000);
});
