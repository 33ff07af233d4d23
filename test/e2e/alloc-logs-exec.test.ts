import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { Agent } from '../../src/node/agent.js';
import { ControlApi } from '../../src/node/api/control-api.js';
import { allocLogsRoutes } from '../../src/node/api/routes/alloc-logs-routes.js';
import { allocRoutes } from '../../src/node/api/routes/alloc-routes.js';
import { placementRoutes } from '../../src/node/api/routes/placement-routes.js';
import { ExecDriver } from '../../src/node/drivers/exec-driver.js';
import { FAST_WORKLOADS, joinAddress, startAgent, tempDir, testConfig, waitFor } from '../support/agents.js';
import { bundle, MESHCTL, meshctl } from '../support/processes.js';

/**
 * `meshctl alloc logs` against one agent of a 3-agent mesh (exec driver, real processes), for an allocation
 * another agent runs: tail, JSON lines, a follow that sees a line printed after it started and whose end
 * stops the owner reading, an unknown id, and an owner that has gone.
 */
const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
let api: ControlApi;
let url: string;

beforeAll(bundle, 60_000);

afterAll(async () => {
  await api?.close();
  await Promise.all(agents.map((a) => a.stop()));
  // The agents leave their processes running (an agent restart adopts them); the test must not.
  for (const a of agents) {
    const driver = new ExecDriver({ owner: a.peerId, dataDir: a.config.dataDir });
    for (const handle of await driver.list()) await driver.stop(handle.allocId, { graceMs: 500 });
    await driver.close();
  }
  await Promise.all(cleanups.map((c) => c()));
});

// Prints its history, then one more line once a file named `go` appears in its directory (its cwd).
const SCRIPT =
  'echo one; echo two; echo three; echo warn >&2; while [ ! -e go ]; do sleep 0.1; done; echo after-follow; exec sleep 300';

function printerJob() {
  const parsed = parseJobFile(
    [
      'name: printer',
      'driver: exec',
      'command: /bin/sh',
      `args: ["-c", ${JSON.stringify(SCRIPT)}]`,
      'count: 3',
      'resources: { cpu: 100, memory: 32 }',
    ].join('\n'),
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.spec;
}

const logs = (...args: string[]) => meshctl(['--api', url, ...args]);

test('logs of an allocation another agent runs, read through this one', async () => {
  for (let i = 0; i < 3; i++) {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const join = agents[0] ? [joinAddress(agents[0])] : [];
    agents.push(
      await startAgent(
        testConfig({ dataDir: dir.path, name: `l${i}`, join, driver: 'exec' }),
        FAST_WORKLOADS,
      ),
    );
  }
  const [a, b] = [agents[0]!, agents[1]!];
  api = new ControlApi(
    [...allocRoutes(a), ...placementRoutes(a.workloads.placement, a), ...allocLogsRoutes(a)],
    pino({ level: 'silent' }),
  );
  const { port } = await api.listen('127.0.0.1:0', false);
  url = `http://127.0.0.1:${port}`;
  // Placed while an agent is still unheard, b might get no copy of the three (running copies do not move).
  await waitFor('every agent to hold the three node records and hear the others', () =>
    agents.every((x) => x.state.state.nodes().length === 3 && x.status().peers.alive === 2),
  );
  await a.state.submitJob(printerJob());
  await waitFor(
    'agent a to see the copy agent b runs',
    () => a.state.state.allocations().some((s) => s.node === b.peerId && s.state === 'running'),
    30_000,
  );
  const allocId = a.state.state.allocations().find((s) => s.node === b.peerId)!.allocId;
  await waitFor('the history to be written', async () =>
    (await logs('alloc', 'logs', allocId)).stdout.includes('three'),
  );

  // History through agent a: stdout to stdout, stderr to stderr; a tail; one stream; JSON lines.
  const all = await logs('alloc', 'logs', allocId);
  expect(all).toMatchObject({ code: 0, stdout: 'one\ntwo\nthree\n', stderr: 'warn\n' });
  expect(await logs('alloc', 'logs', allocId, '--tail', '2', '--stdout')).toMatchObject({
    code: 0,
    stdout: 'two\nthree\n',
    stderr: '',
  });
  const json = await logs('-o', 'json', 'alloc', 'logs', allocId, '--stderr');
  expect(
    json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)),
  ).toEqual([{ stream: 'stderr', line: 'warn' }]);
  const since = await logs('alloc', 'logs', allocId, '--since', '5m');
  expect(since.code).toBe(1);
  expect(since.stderr).toMatch(/exec driver keeps no timestamps.*tail/);

  // Follow: a line printed after the follow started arrives; ending meshctl ends the owner's reader.
  const follow = spawn(
    process.execPath,
    [MESHCTL, '--api', url, 'alloc', 'logs', '-f', '--tail', '1', allocId],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  follow.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  try {
    await waitFor('the tail of the follow', () => out.includes('three\n'));
    expect(out).toBe('three\n');
    await waitFor('the owner to serve one session', () => b.allocLogs.sessions().size === 1);
    await writeFile(join(b.config.dataDir, 'alloc', allocId, 'go'), '');
    await waitFor('the line printed during the follow', () => out.includes('after-follow\n'));
    expect(out).toBe('three\nafter-follow\n');
  } finally {
    follow.kill('SIGTERM');
  }
  await waitFor(
    'the owner to stop reading for the follow that left',
    () => b.allocLogs.sessions().size === 0,
  );

  // An id nobody runs.
  const unknown = await logs('alloc', 'logs', 'nope.0.1.abcd');
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(/no allocation "nope\.0\.1\.abcd"; meshctl alloc list/);

  // The owner gone: a clear error naming it, at once (its agent refuses the connection). The job is stopped
  // first, so that each agent stops its own process; the statuses, naming their nodes, stay.
  await a.state.stopJob('printer', false);
  await waitFor(
    'every copy stopped by its own agent',
    () => a.state.state.allocations().every((s) => s.job !== 'printer' || s.state === 'complete'),
    30_000,
  );
  await b.stop();
  const gone = await logs('alloc', 'logs', allocId);
  expect(gone.code).toBe(1);
  expect(gone.stderr).toContain(`cannot reach l1 (${b.peerId}), the node that runs alloc ${allocId}`);
  expect(gone.stderr).toMatch(/meshctl peers/);
  expect(gone.stderr.trim().split('\n')).toHaveLength(1);
  // Once liveness calls it lost, the answer says so without dialling.
  await waitFor(
    'agent a to call b lost',
    () => a.peers().find((p) => p.peerId === b.peerId)?.liveness === 'lost',
  );
  const lost = await logs('alloc', 'logs', allocId);
  expect(lost.code).toBe(1);
  expect(lost.stderr).toMatch(
    new RegExp(`cannot reach l1 \\(${b.peerId}\\).*: it is lost \\(not heard from for \\d+s\\)`),
  );
}, 120_000);
