import { pino } from 'pino';
import { afterAll, expect, test } from 'vitest';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { JobSpec } from '../../src/crdt/job-spec.js';
import type { Agent } from '../../src/node/agent.js';
import { ControlApi } from '../../src/node/api/control-api.js';
import { allocRoutes } from '../../src/node/api/routes/alloc-routes.js';
import type { AllocDetail } from '../../src/node/api/types.js';
import type { AgentConfig } from '../../src/node/setup/config.js';
import {
  FAST_LIVENESS,
  FAST_WORKLOADS,
  joinAddress,
  meshFormed,
  startAgent,
  tempDir,
  testConfig,
  waitFor,
} from '../support/agents.js';

/**
 * The whole pipeline through real agents: a job submitted on one agent is replicated, placed identically by
 * every agent, started by the agents it is placed on (exec driver, real processes), reported back, replaced
 * when an agent is lost, and adopted without a restart when an agent restarts on its data dir.
 */
const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const a of agents) {
    // Stop the job's processes before the agents go, so no test process outlives the test.
    await a.state.stopJob('sleeper', true).catch(() => {});
  }
  await new Promise((r) => setTimeout(r, 1_500));
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(cleanups.map((c) => c()));
});

const start = (config: AgentConfig) => startAgent(config, FAST_WORKLOADS);

function sleeperJob(count: number): JobSpec {
  const parsed = parseJobFile(
    [
      'name: sleeper',
      'driver: exec',
      'command: /bin/sleep',
      'args: ["300"]',
      `count: ${count}`,
      'resources: { cpu: 100, memory: 32 }',
    ].join('\n'),
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.spec;
}

const running = (observer: Agent) =>
  observer.state.state.allocations().filter((a) => a.job === 'sleeper' && a.state === 'running');

/** Alloc ids are `<job>.<slot>.<generation>.<hash>`. */
const slotOf = (allocId: string) => allocId.split('.')[1];

const describeMesh = () =>
  agents
    .map(
      (a) =>
        `${a.config.name}: nodes=${a.state.state.nodes().length} statuses=${JSON.stringify(
          a.state.state
            .allocations()
            .map(
              (s) => `${s.allocId}@${s.node.slice(-4)}:${s.state}${s.lastError ? `(${s.lastError})` : ''}`,
            ),
        )} placement=${placementKey(a)}`,
    )
    .join('\n');

const placementKey = (a: Agent) =>
  JSON.stringify(
    a.workloads.placement
      .allocs('sleeper')
      .filter((r) => r.desired === 'run')
      .map((r) => `${r.allocId}@${r.node}`),
  );

test('count 3 on 3 agents: one copy each, same placement everywhere, replaced when an agent is lost, adopted on restart', async () => {
  for (let i = 0; i < 3; i++) {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const join = agents[0] ? [joinAddress(agents[0])] : [];
    agents.push(await start(testConfig({ dataDir: dir.path, name: `w${i}`, join, driver: 'exec' })));
  }
  await waitFor('every agent to hold all three node records and hear the other two', () =>
    meshFormed(agents),
  );

  const submitted = await agents[1]!.state.submitJob(sleeperJob(3));
  expect(submitted).toMatchObject({ name: 'sleeper', version: 1 });

  await waitFor(
    'three running copies, one per agent, seen by every agent',
    () => agents.every((a) => new Set(running(a).map((r) => r.node)).size === 3 && running(a).length === 3),
    30_000,
    describeMesh,
  );
  // Views agree, so every agent computed the very same placement.
  expect(new Set(agents.map(placementKey)).size).toBe(1);
  // Each agent runs exactly its own copy.
  for (const a of agents) {
    const mine = running(a).filter((r) => r.node === a.peerId);
    expect(mine).toHaveLength(1);
    expect(a.workloads.reconciler.status(mine[0]!.allocId)?.state).toBe('running');
  }

  // `meshctl alloc status`: the owner answers with its events; another agent asks the owner for them.
  const api = new ControlApi(allocRoutes(agents[0]!), pino({ level: 'silent' }));
  const { port } = await api.listen('127.0.0.1:0', false);
  try {
    const own = running(agents[0]!).find((r) => r.node === agents[0]!.peerId)!;
    const other = running(agents[0]!).find((r) => r.node !== agents[0]!.peerId)!;
    const mine = (await (
      await fetch(`http://127.0.0.1:${port}/v1/allocs/${own.allocId}`)
    ).json()) as AllocDetail;
    expect(mine.owner).toMatchObject({ local: true, name: 'w0' });
    expect(mine.status?.state).toBe('running');
    expect(mine.events?.map((e) => e.kind)).toContain('started');
    const theirs = (await (
      await fetch(`http://127.0.0.1:${port}/v1/allocs/${other.allocId}`)
    ).json()) as AllocDetail;
    expect(theirs.owner?.local).toBe(false);
    expect(theirs.events?.map((e) => e.kind)).toContain('started');
    expect((await fetch(`http://127.0.0.1:${port}/v1/allocs/nope.0.0.0`)).status).toBe(404);
  } finally {
    await api.close();
  }

  // Restart w2 on its data dir: its process is adopted, not started again.
  const w2 = agents[2]!;
  const before = running(agents[0]!).find((r) => r.node === w2.peerId)!;
  await w2.stop();
  agents.splice(2, 1);
  const back = await start({ ...w2.config, join: [joinAddress(agents[0]!)] });
  agents.push(back);
  await waitFor('the restarted agent to report its copy running', () => {
    const status = back.workloads.reconciler.status(before.allocId);
    return status?.state === 'running';
  });
  const after = back.state.state.allocations().find((a) => a.allocId === before.allocId)!;
  expect(after.startedAt).toBe(before.startedAt);
  expect(after.restarts).toBe(before.restarts);

  // Lose w0 for good: its copy is replaced on a surviving agent, and three copies run again.
  // A restart slow enough to pass the lost period gets w2's slot a stand-in, stopped once w2 is heard again;
  // wait for that, or the stand-in would pass below for the replacement of w0's copy.
  await waitFor(
    'exactly three running copies and one placement after the restart',
    () => agents.every((a) => running(a).length === 3) && new Set(agents.map(placementKey)).size === 1,
    30_000,
  );
  const lost = agents[0]!;
  const lostCopy = running(agents[1]!).find((r) => r.node === lost.peerId)!;
  const lostSlot = slotOf(lostCopy.allocId);
  await lost.stop();
  const lostAt = Date.now();
  agents.splice(0, 1);
  await waitFor(
    'a replacement for the lost copy on a survivor',
    () =>
      agents.every((a) => {
        const survivors = running(a).filter((r) => r.node !== lost.peerId);
        return survivors.length === 3 && survivors.some((r) => slotOf(r.allocId) === lostSlot);
      }) && new Set(agents.map(placementKey)).size === 1,
    30_000,
  );
  const replacement = running(agents[0]!).filter((r) => r.node !== lost.peerId);
  expect(replacement).toHaveLength(3);
  expect(Date.now() - lostAt).toBeGreaterThanOrEqual(FAST_LIVENESS.suspectAfterMs);

  // The lost agent's process kept running without it (offline autonomy). When it returns, the mesh keeps
  // exactly three copies; afterAll purges the job so every agent stops its processes.
  agents.unshift(await start({ ...lost.config, join: [joinAddress(agents[0]!)] }));
  await waitFor(
    'exactly three running copies after the lost agent returns',
    () => agents.every((a) => running(a).length === 3),
    30_000,
  );
}, 120_000);
