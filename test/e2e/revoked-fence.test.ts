import { afterAll, expect, test } from 'vitest';
import { signJobEvent } from '../../src/crdt/job-auth.js';
import { parseJobFile } from '../../src/crdt/job-file.js';
import { signValue } from '../../src/crdt/signature.js';
import { signedTrustChange, TRUST_DOMAIN } from '../../src/crdt/trust.js';
import type { Agent } from '../../src/node/agent.js';
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
 * Issue 16 #4: a device that learns it is revoked stops its workloads (self-fencing), so the copies members
 * re-place elsewhere are the only ones. Three real agents of a closed mesh, real processes.
 */
const agents: Agent[] = [];
const dirs = new Map<Agent, string>();
const cleanups: (() => Promise<void>)[] = [];
let mesh: TestMesh;

afterAll(async () => {
  for (const agent of agents) {
    const plan = agent.state.planJob('fenced', { kind: 'stop' }, mesh.operator.id);
    if (plan.event) {
      const stop = signJobEvent('fenced', plan.event, mesh.operator.id, mesh.operator.sign);
      await agent.state.commitJob('fenced', stop).catch(() => {});
    }
  }
  await new Promise((r) => setTimeout(r, 1_500));
  await Promise.all(agents.map((a) => a.stop()));
  // Whatever a failing run left behind, through the driver that owns it.
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

test('a revoked device stops its copies, so the mesh runs exactly count of them', async () => {
  mesh = await testMesh();
  const a = await start('a', mesh.joinToken());
  const b = await start('b', mesh.joinToken([a]));
  const c = await start('c', mesh.joinToken([a]));
  // Placement places on the devices it hears: submitted while one member was still unheard, two copies land on
  // one device and stay there (copies do not move once running), which is not what this test is about.
  await waitFor('three members holding each other’s records and hearing each other', () =>
    [a, b, c].every((x) => x.state.state.nodes().length === 3 && x.status().peers.alive === 2),
  );
  const parsed = parseJobFile(
    ['name: fenced', 'driver: exec', 'command: /bin/sleep', 'args: ["300"]', 'count: 3'].join('\n'),
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const plan = a.state.planJob('fenced', { kind: 'submit', spec: parsed.spec }, mesh.operator.id);
  await a.state.commitJob(
    'fenced',
    signJobEvent('fenced', plan.event!, mesh.operator.id, mesh.operator.sign),
  );
  await waitFor('one copy on each device', async () =>
    (await Promise.all([a, b, c].map(runningOn))).every((running) => running.length === 1),
  );

  const change = { kind: 'revoke-node' as const, subject: c.peerId, at: Date.now() };
  await b.state.addTrustChange(
    signedTrustChange(change, signValue(TRUST_DOMAIN, change, mesh.operator.id, mesh.operator.sign)),
  );
  await waitFor('the revoked device to stop its copy', async () => (await runningOn(c)).length === 0, 20_000);
  await waitFor('the members to run all three copies', async () => {
    const running = await Promise.all([a, b].map(runningOn));
    return running.flat().length === 3;
  });
  // And it stays fenced: nothing is started on it again.
  await new Promise((r) => setTimeout(r, 1_000));
  expect(await runningOn(c)).toEqual([]);
});
