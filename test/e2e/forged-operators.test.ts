import { afterAll, expect, test } from 'vitest';
import { signJobEvent } from '../../src/crdt/job-auth.js';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { Agent } from '../../src/node/agent.js';
import { ExecDriver } from '../../src/node/drivers/exec-driver.js';
import { encodeJoinToken } from '../../src/node/membership/join-token.js';
import {
  FAST_WORKLOADS,
  joinAddress,
  startAgent,
  type TestMesh,
  tempDir,
  testConfig,
  testMesh,
  waitFor,
} from '../support/agents.js';
import { testKey } from '../support/keys.js';

/**
 * Issue 16, last low item: a device with the mesh key but a forged operator list (a stolen token, edited) joins
 * and refuses the real operators' jobs. Members must not place copies on it, or those jobs stay under-replicated.
 * Three real agents on loopback, real processes.
 */
const agents: Agent[] = [];
const dirs = new Map<Agent, string>();
const cleanups: (() => Promise<void>)[] = [];
let mesh: TestMesh;

afterAll(async () => {
  for (const agent of agents) {
    const plan = agent.state.planJob('spread', { kind: 'stop' }, mesh.operator.id);
    if (!plan.event) continue;
    const stop = signJobEvent('spread', plan.event, mesh.operator.id, mesh.operator.sign);
    await agent.state.commitJob('spread', stop).catch(() => {});
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

test('a member with a forged operator list gets no copies; the real members run them all', async () => {
  mesh = await testMesh();
  const a = await start('a', mesh.joinToken());
  const b = await start('b', mesh.joinToken([a]));
  const thief = await testKey();
  const forged = encodeJoinToken({ psk: mesh.psk, operators: [thief.id], bootstrap: [joinAddress(a)] });
  const f = await start('forged', forged);
  await waitFor('all three holding each other’s records', () =>
    [a, b, f].every((x) => x.state.state.nodes().length === 3),
  );

  const parsed = parseJobFile(
    [
      'name: spread',
      'driver: exec',
      'command: /bin/sleep',
      'args: ["300"]',
      'count: 3',
      'resources: { cpu: 10, memory: 8 }',
    ].join('\n'),
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const plan = a.state.planJob('spread', { kind: 'submit', spec: parsed.spec }, mesh.operator.id);
  await a.state.commitJob(
    'spread',
    signJobEvent('spread', plan.event!, mesh.operator.id, mesh.operator.sign),
  );

  await waitFor('three copies running, as both real members see it', () =>
    [a, b].every(
      (x) =>
        x.state.state.allocations().filter((s) => s.job === 'spread' && s.state === 'running').length === 3,
    ),
  );
  for (const member of [a, b]) {
    expect(member.workloads.placement.allocs('spread').map((r) => r.node)).not.toContain(f.peerId);
  }
  // The forged device refuses the job, as it should; it still holds the real members' records.
  expect(f.state.state.job('spread')).toBeUndefined();
  expect(f.state.state.nodes()).toHaveLength(3);
});
