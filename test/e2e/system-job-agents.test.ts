import { afterAll, expect, test } from 'vitest';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { Agent } from '../../src/node/agent.js';
import {
  FAST_WORKLOADS,
  joinAddress,
  livenessOf,
  meshFormed,
  startAgent,
  tempDir,
  testConfig,
  waitFor,
} from '../support/agents.js';

/**
 * Issue 19's acceptance for `type: system` through real agents (libp2p over loopback, replicated state,
 * placement on every agent, the exec driver running real processes): three agents run three copies, a fourth
 * that joins gets the fourth, and when one leaves the others keep theirs and nobody takes over its copy.
 */
const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  await agents[0]?.state.stopJob('node-agent', false).catch(() => {});
  await waitFor(
    'every copy stopped',
    () => agents.every((a) => a.state.state.allocations().every((s) => s.state !== 'running')),
    20_000,
  ).catch(() => {});
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(cleanups.map((c) => c()));
});

async function addAgent(i: number): Promise<Agent> {
  const dir = await tempDir();
  cleanups.push(dir.cleanup);
  const join = agents[0] ? [joinAddress(agents[0])] : [];
  const agent = await startAgent(
    testConfig({ dataDir: dir.path, name: `s${i}`, join, driver: 'exec' }),
    FAST_WORKLOADS,
  );
  agents.push(agent);
  return agent;
}

const running = (a: Agent) =>
  a.state.state.allocations().filter((s) => s.job === 'node-agent' && s.state === 'running');

/** Every listed agent sees exactly one running copy on each of `on`, and nowhere else. */
const oneEach = (observers: readonly Agent[], on: readonly Agent[]) => () =>
  observers.every((a) => {
    const nodes = running(a)
      .map((s) => s.node)
      .sort();
    return JSON.stringify(nodes) === JSON.stringify(on.map((x) => x.peerId).sort());
  });

const describeMesh = () =>
  agents
    .map(
      (a) =>
        `${a.config.name}: ${running(a)
          .map((s) => s.allocId)
          .join(',')}`,
    )
    .join('; ');

test('system job: three agents run three copies, a fourth that joins runs one more, one that leaves is not replaced', async () => {
  for (let i = 0; i < 3; i++) await addAgent(i);
  await waitFor('three agents to hear each other', () => meshFormed(agents), 30_000);
  const spec = parseJobFile(
    ['name: node-agent', 'type: system', 'driver: exec', 'command: /bin/sleep', 'args: ["300"]'].join('\n'),
  );
  if (!spec.ok) throw new Error(JSON.stringify(spec.errors));
  await agents[0]!.state.submitJob(spec.spec);
  await waitFor('one copy on each of three agents', oneEach(agents, agents), 30_000, describeMesh);
  const first = new Map(running(agents[0]!).map((s) => [s.allocId, s]));

  const fourth = await addAgent(3);
  await waitFor('four agents to hear each other', () => meshFormed(agents), 30_000);
  await waitFor('one copy on each of four agents', oneEach(agents, agents), 30_000, describeMesh);
  for (const s of running(agents[0]!)) {
    if (s.node === fourth.peerId) continue;
    // The three copies that ran before are the same copies, never restarted.
    expect(first.get(s.allocId)?.startedAt, s.allocId).toBe(s.startedAt);
    expect(s.restarts).toBe(0);
  }
  const four = new Map(running(agents[0]!).map((s) => [s.allocId, s.node]));
  // What `job run` and `job status` report: one wanted copy per eligible device, all placed.
  for (const a of agents) {
    const placement = a.workloads.placement.explain('node-agent');
    expect(placement && 'count' in placement && placement.count, a.config.name).toBe(4);
    expect(placement?.unplaced, a.config.name).toEqual([]);
  }

  // One of the first three leaves. The others lose sight of it; its copy is nobody else's to run.
  const leaving = agents[1]!;
  const staying = agents.filter((a) => a !== leaving);
  await leaving.stop();
  await waitFor(
    'the others to see the leaver lost',
    () => staying.every((a) => livenessOf(a, leaving.peerId) === 'lost'),
    30_000,
  );
  // Give placement time to act on the loss: any replacement would start within a few debounce rounds.
  await new Promise((r) => setTimeout(r, 3_000));
  for (const a of staying) {
    const desired = a.workloads.placement
      .allocs()
      .filter((r) => r.job === 'node-agent' && r.desired === 'run')
      .map((r) => `${r.allocId}@${r.node}`)
      .sort();
    const expected = [...four]
      .filter(([, node]) => node !== leaving.peerId)
      .map(([id, node]) => `${id}@${node}`)
      .sort();
    expect(desired, a.config.name).toEqual(expected);
    const copies = a.state.state
      .allocations()
      .filter((s) => s.job === 'node-agent' && s.node !== leaving.peerId)
      .map((s) => `${s.allocId}@${s.node}:${s.state}`)
      .sort();
    expect(copies, a.config.name).toEqual(expected.map((e) => `${e}:running`));
  }
}, 180_000);
