import { afterAll, expect, test } from 'vitest';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { JobSpec } from '../../src/crdt/job-spec.js';
import type { Agent } from '../../src/node/agent.js';
import {
  FAST_WORKLOADS,
  joinAddress,
  meshFormed,
  startAgent,
  tempDir,
  testConfig,
  waitFor,
} from '../support/agents.js';
import { Partition } from './state-support.js';

/**
 * Issue 4's acceptance through real agents: libp2p over loopback, replicated state, placement on every agent,
 * the exec driver running real processes. Seven agents, twenty jobs; two agents are cut off past `lostAfter`,
 * each side replaces the other's copies, and after the heal exactly `count` copies of every job survive, chosen
 * by the job's reconcile mode, with no surviving original restarted.
 */
const MODES = ['keep_original', 'keep_replacement', 'best_score', 'longest_running'] as const;
const JOBS = 20;
const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
const partition = new Partition();

afterAll(async () => {
  for (let j = 0; j < JOBS; j++) await agents[0]?.state.stopJob(`job-${j}`, false).catch(() => {});
  await waitFor(
    'every copy stopped',
    () => agents.every((a) => a.state.state.allocations().every((s) => s.state !== 'running')),
    20_000,
  ).catch(() => {});
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(cleanups.map((c) => c()));
});

function job(j: number): JobSpec {
  const parsed = parseJobFile(
    [
      `name: job-${j}`,
      'driver: exec',
      'command: /bin/sleep',
      'args: ["300"]',
      'resources: { cpu: 20, memory: 8 }',
      `disconnect: { lostAfter: 0s, replace: true, reconcile: ${MODES[j % MODES.length]} }`,
    ].join('\n'),
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.spec;
}

/** Each agent's desired placement as one comparable string. */
const placementOf = (a: Agent) =>
  JSON.stringify(
    a.workloads.placement
      .allocs()
      .filter((r) => r.desired === 'run' || r.desired === 'unknown')
      .map((r) => `${r.allocId}@${r.node}:${r.desired}`),
  );

const runningCopies = (a: Agent, jobName: string) =>
  a.state.state.allocations().filter((s) => s.job === jobName && s.state === 'running');

/** Every agent sees exactly one running copy of every job, and all of them place the same way. */
const oneCopyEachAndOnePlacement = () =>
  agents.every((a) =>
    Array.from({ length: JOBS }, (_, j) => runningCopies(a, `job-${j}`).length === 1).every(Boolean),
  ) && new Set(agents.map(placementOf)).size === 1;

const describeMesh = () =>
  agents
    .map((a) => {
      const perJob = Array.from({ length: JOBS }, (_, j) => runningCopies(a, `job-${j}`).length).join('');
      return `${a.config.name}: running per job=${perJob} alive=${a.peers().filter((p) => p.liveness === 'alive').length}`;
    })
    .join('; ');

async function cut(): Promise<void> {
  partition.active = true;
  await Promise.all(
    agents.flatMap((a) =>
      a.host
        .getConnections()
        .filter((c) => partition.blocks(a.peerId, c.remotePeer.toString()))
        .map((c) => c.close().catch(() => c.abort(new Error('partitioned')))),
    ),
  );
}

test('7 agents, 20 jobs: one placement everywhere; a partition past lostAfter heals to exactly count copies by the reconcile rule', async () => {
  for (let i = 0; i < 7; i++) {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const join = agents[0] ? [joinAddress(agents[0])] : [];
    let self: string | undefined;
    const config = testConfig({ dataDir: dir.path, name: `p${i}`, join, driver: 'exec' });
    const agent = await startAgent(config, {
      ...FAST_WORKLOADS,
      connectionGater: partition.gaterFor(() => self),
    });
    self = agent.peerId;
    agents.push(agent);
  }
  const minority = agents.slice(5);
  const majority = agents.slice(0, 5);
  for (const a of majority) partition.assign(a.peerId, 0);
  for (const a of minority) partition.assign(a.peerId, 1);
  await waitFor('all seven to hold every node record and hear each other', () => meshFormed(agents), 30_000);

  for (let j = 0; j < JOBS; j++) await agents[j % 7]!.state.submitJob(job(j));
  await waitFor(
    'one running copy of every job, seen by every agent, and one placement everywhere',
    oneCopyEachAndOnePlacement,
    60_000,
    describeMesh,
  );
  const originals = new Map(
    Array.from({ length: JOBS }, (_, j) => {
      const copy = runningCopies(agents[0]!, `job-${j}`)[0]!;
      return [`job-${j}` as string, copy] as const;
    }),
  );

  // Cut p5 and p6 off. Past lostAfter each side replaces the copies the other side ran.
  await cut();
  const sideOf = (node: string) => (minority.some((a) => a.peerId === node) ? 1 : 0);
  await waitFor(
    'each side to run a copy of every job on its own nodes',
    () =>
      [majority, minority].every((side, s) =>
        side.every((a) =>
          Array.from(
            { length: JOBS },
            (_, j) => runningCopies(a, `job-${j}`).filter((c) => sideOf(c.node) === s).length === 1,
          ).every(Boolean),
        ),
      ),
    60_000,
    describeMesh,
  );

  // Heal: the views meet again and exactly one copy per job survives, by each job's rule.
  partition.active = false;
  await waitFor(
    'exactly one running copy per job everywhere, and one placement everywhere',
    oneCopyEachAndOnePlacement,
    90_000,
    describeMesh,
  );
  for (let j = 0; j < JOBS; j++) {
    const name = `job-${j}`;
    const original = originals.get(name)!;
    const survivor = runningCopies(agents[0]!, name)[0]!;
    const mode = MODES[j % MODES.length];
    if (mode === 'keep_original' || mode === 'longest_running')
      expect(survivor.allocId, `${name} ${mode}`).toBe(original.allocId);
    if (mode === 'keep_replacement') expect(survivor.allocId, `${name} ${mode}`).not.toBe(original.allocId);
    if (survivor.allocId === original.allocId) {
      // The surviving original was never restarted.
      expect(survivor.startedAt, name).toBe(original.startedAt);
      expect(survivor.restarts, name).toBe(0);
    }
  }
}, 240_000);
