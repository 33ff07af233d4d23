import { afterAll, expect, test } from 'vitest';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { AllocStatus } from '../../src/crdt/records.js';
import type { Agent } from '../../src/node/agent.js';
import { parseAllocId } from '../../src/scheduler/alloc-id.js';
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
import { Partition } from './state-support.js';

/**
 * Issue 19's acceptance for `type: periodic` through three real agents (libp2p over loopback, replicated
 * state, placement on every agent with its own clock, the exec driver running real processes). The schedule
 * has a seconds field, every 5 s, so several runs fit in a test: each run launches on exactly one device.
 * Then a 2+1 partition: the documented outcome is that the agent cut off alone launches nothing (it hears
 * no other device) and the pair launches each run once; after the heal, still once per run.
 */
const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
const partition = new Partition();
const JOB = 'tick';

afterAll(async () => {
  partition.active = false;
  await agents[0]?.state.stopJob(JOB, false).catch(() => {});
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(cleanups.map((c) => c()));
});

/** Every copy of the job any agent knows of, by id (the newest status of each). */
function copies(): AllocStatus[] {
  const byId = new Map<string, AllocStatus>();
  for (const a of agents)
    for (const s of a.state.state.allocations())
      if (s.job === JOB && (byId.get(s.allocId)?.state !== 'complete' || s.state === 'complete'))
        byId.set(s.allocId, s);
  return [...byId.values()];
}

/** Launches per run (the run's slot in the copies' ids), with the nodes that launched them. */
function perRun(from: readonly AllocStatus[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const c of from) {
    const run = parseAllocId(c.allocId)!.slot;
    out.set(run, [...(out.get(run) ?? []), c.node]);
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const describeRuns = () =>
  JSON.stringify([...perRun(copies())].map(([run, nodes]) => [run % 1000, nodes.map((n) => n.slice(-4))]));

test('a periodic job every 5 s: one launch per run across three agents, and across a 2+1 partition the pair launches, the lone agent does not', async () => {
  for (let i = 0; i < 3; i++) {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const join = agents[0] ? [joinAddress(agents[0])] : [];
    let self: string | undefined;
    const agent = await startAgent(testConfig({ dataDir: dir.path, name: `t${i}`, join, driver: 'exec' }), {
      ...FAST_WORKLOADS,
      connectionGater: partition.gaterFor(() => self),
    });
    self = agent.peerId;
    agents.push(agent);
  }
  await waitFor('three agents to hear each other', () => meshFormed(agents), 30_000);
  const spec = parseJobFile(
    [
      `name: ${JOB}`,
      'type: periodic',
      'schedule: "*/5 * * * * *"',
      'driver: exec',
      'command: /bin/sh',
      'args: ["-c", "sleep 1"]',
    ].join('\n'),
  );
  if (!spec.ok) throw new Error(JSON.stringify(spec.errors));
  await agents[0]!.state.submitJob(spec.spec);

  // Five runs through the whole mesh.
  await waitFor(
    'five runs complete',
    () => copies().filter((c) => c.state === 'complete').length >= 5,
    60_000,
    describeRuns,
  );
  const healthy = perRun(copies());
  for (const [run, nodes] of healthy) expect(nodes, `run ${run}: ${describeRuns()}`).toHaveLength(1);
  const runs = [...healthy.keys()].sort((a, b) => a - b);
  // Consecutive runs, 5 s apart: none skipped, none doubled.
  for (let i = 1; i < runs.length; i++) expect(runs[i]! - runs[i - 1]!).toBe(5);

  // Cut t2 off. Once each side has seen the other lost, the pair launches every run and t2 none.
  const lone = agents[2]!;
  const pair = agents.slice(0, 2);
  for (const a of pair) partition.assign(a.peerId, 0);
  partition.assign(lone.peerId, 1);
  partition.active = true;
  await Promise.all(
    agents.flatMap((a) =>
      a.host
        .getConnections()
        .filter((c) => partition.blocks(a.peerId, c.remotePeer.toString()))
        .map((c) => c.close().catch(() => c.abort(new Error('partitioned')))),
    ),
  );
  await waitFor(
    'both sides to see the other lost',
    () =>
      pair.every((a) => livenessOf(a, lone.peerId) === 'lost') &&
      pair.every((a) => livenessOf(lone, a.peerId) === 'lost'),
    30_000,
  );
  const cutAt = new Set(copies().map((c) => c.allocId));
  await sleep(16_000);
  const during = copies().filter((c) => !cutAt.has(c.allocId));
  const duringRuns = perRun(during);
  expect(duringRuns.size, describeRuns()).toBeGreaterThanOrEqual(2);
  for (const [run, nodes] of duringRuns) {
    expect(nodes, `run ${run} during the partition`).toHaveLength(1);
    expect(
      pair.map((a) => a.peerId),
      `run ${run} on the pair`,
    ).toContain(nodes[0]);
  }

  // Heal: the lone agent learns the pair's runs, and runs keep launching once each.
  partition.active = false;
  await waitFor('the mesh to form again', () => meshFormed(agents), 30_000);
  const healedAt = new Set(copies().map((c) => c.allocId));
  await sleep(11_000);
  const after = perRun(copies().filter((c) => !healedAt.has(c.allocId)));
  expect(after.size, describeRuns()).toBeGreaterThanOrEqual(2);
  for (const [run, nodes] of after) expect(nodes, `run ${run} after the heal`).toHaveLength(1);
  for (const [run, nodes] of perRun(copies()))
    expect(nodes, `run ${run} overall: ${describeRuns()}`).toHaveLength(1);
}, 180_000);
