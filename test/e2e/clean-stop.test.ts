import { afterAll, expect, test } from 'vitest';
import { leaveAndStop } from '../../src/cli/clean-stop.js';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { Agent } from '../../src/node/agent.js';
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
 * Issue 18, "a clean stop announces the leave", through real agents and real processes (exec driver). The lost
 * period is long (20 s, for liveness and for the job), so a replacement that starts within the heartbeat interval
 * + 2 s can only come from the announcement, not from silence. The agent then comes back on the same data dir:
 * its record loses the mark, and exactly `count` copies survive.
 */
const LOST_AFTER_MS = 20_000;
const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  await agents[0]?.state.stopJob('web', false).catch(() => {});
  await waitFor(
    'every copy stopped',
    () => agents.every((a) => a.state.state.allocations().every((s) => s.state !== 'running')),
    20_000,
  ).catch(() => {});
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(cleanups.map((c) => c()));
});

const running = (a: Agent) =>
  a.state.state.allocations().filter((s) => s.job === 'web' && s.state === 'running');
const describe = () =>
  agents
    .map((a) => `${a.config.name}: ${running(a).map((s) => `${s.allocId}@${s.node.slice(-4)}`)}`)
    .join('; ');

test('SIGTERM path: peers replace a leaving agent within the heartbeat + 2 s; its restart converges to count copies', async () => {
  const configs: AgentConfig[] = [];
  for (let i = 0; i < 3; i++) {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const join = agents[0] ? [joinAddress(agents[0])] : [];
    const config = testConfig({
      dataDir: dir.path,
      name: `c${i}`,
      join,
      driver: 'exec',
      lostAfterMs: LOST_AFTER_MS,
    });
    configs.push(config);
    agents.push(await startAgent(config, FAST_WORKLOADS));
  }
  await waitFor('the three agents to form a mesh', () => meshFormed(agents), 30_000);

  const parsed = parseJobFile(
    [
      'name: web',
      'driver: exec',
      'command: /bin/sleep',
      'args: ["300"]',
      'count: 3',
      'resources: { cpu: 20, memory: 8 }',
      'disconnect: { lostAfter: 20s, replace: true }',
    ].join('\n'),
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  await agents[0]!.state.submitJob(parsed.spec);
  await waitFor(
    'three running copies, one per agent',
    () => agents.every((a) => running(a).length === 3),
    30_000,
    describe,
  );

  const leaving = agents[2]!;
  const survivors = agents.slice(0, 2);
  const leftAt = Date.now();
  await leaveAndStop(leaving);
  agents.splice(2, 1);
  await waitFor(
    'the survivors to run three copies between them',
    () => survivors.every((a) => running(a).filter((s) => s.node !== leaving.peerId).length === 3),
    LOST_AFTER_MS,
    describe,
  );
  const took = Date.now() - leftAt;
  expect(took).toBeLessThan(FAST_LIVENESS.heartbeatIntervalMs + 2_000);
  for (const a of survivors)
    expect(a.state.state.nodes().find((n) => n.peerId === leaving.peerId)?.leaving).toBeTypeOf('number');

  // The same agent comes back: alive again, and the mesh keeps exactly three copies.
  const back = await startAgent(configs[2]!, FAST_WORKLOADS);
  agents.push(back);
  expect(back.peerId).toBe(leaving.peerId);
  await waitFor(
    'the record to lose its mark and exactly three copies to run, seen alike everywhere',
    () =>
      agents.every(
        (a) =>
          a.state.state.nodes().find((n) => n.peerId === back.peerId)?.leaving === undefined &&
          running(a).length === 3,
      ) &&
      new Set(
        agents.map((a) =>
          JSON.stringify(
            running(a)
              .map((s) => s.allocId)
              .sort(),
          ),
        ),
      ).size === 1,
    30_000,
    describe,
  );
});
