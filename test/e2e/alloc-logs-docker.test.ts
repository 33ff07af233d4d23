import type Docker from 'dockerode';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { validateJobSpec } from '../../src/crdt/job-spec.js';
import type { Agent } from '../../src/node/agent.js';
import { ControlApi } from '../../src/node/api/control-api.js';
import { allocLogsRoutes } from '../../src/node/api/routes/alloc-logs-routes.js';
import type { LogRecord } from '../../src/node/api/types.js';
import { containerName, LABELS } from '../../src/node/drivers/docker-container-config.js';
import { demuxFrames } from '../../src/node/drivers/docker-log-frames.js';
import { FAST_WORKLOADS, joinAddress, startAgent, tempDir, testConfig, waitFor } from '../support/agents.js';
import { DOCKER_SOCKET, dockerWithTestImage, removeByLabel, TEST_IMAGE } from '../support/docker.js';

/**
 * Logs of a container (real Docker Engine) read through a different agent: agent a runs nothing (`--driver
 * none`), agent b runs the job's one copy; a's control API streams it from b over the alloc-logs protocol.
 */
let docker: Docker;
const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  docker = await dockerWithTestImage();
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  for (const a of agents) await removeByLabel(docker, `${LABELS.owner}=${a.peerId}`);
  await Promise.all(cleanups.map((c) => c()));
});

async function records(url: string, signal?: AbortSignal, until?: (r: LogRecord[]) => boolean) {
  const res = await fetch(url, signal ? { signal } : {});
  const out: LogRecord[] = [];
  let blanks = 0;
  if (!res.ok)
    return { status: res.status, out, blanks, error: ((await res.json()) as { error: string }).error };
  let text = '';
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    text += Buffer.from(chunk).toString();
    const lines = text.split('\n');
    text = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') blanks++;
      else out.push(JSON.parse(line) as LogRecord);
    }
    if (until?.(out)) break;
  }
  return { status: res.status, out, blanks, error: undefined };
}

test('a container on one agent, its logs through another', async () => {
  for (const [name, driver] of [
    ['da', 'none'],
    ['db', 'docker'],
  ] as const) {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const join = agents[0] ? [joinAddress(agents[0])] : [];
    agents.push(
      await startAgent(
        testConfig({ dataDir: dir.path, name, join, driver, dockerSocket: DOCKER_SOCKET }),
        FAST_WORKLOADS,
      ),
    );
  }
  const [a, b] = [agents[0]!, agents[1]!];
  const api = new ControlApi(allocLogsRoutes(a, { quietMs: 200 }), pino({ level: 'silent' }));
  const { port } = await api.listen('127.0.0.1:0', false);
  cleanups.unshift(() => api.close());
  await waitFor('both node records everywhere', () =>
    agents.every((x) => x.state.state.nodes().length === 2),
  );

  const spec = validateJobSpec({
    name: 'echoer',
    driver: 'docker',
    image: TEST_IMAGE,
    command: 'sh',
    args: [
      '-c',
      'echo hello; echo oops >&2; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo after-follow; exec sleep 300',
    ],
    resources: { cpu: 100, memory: 32 },
  });
  if (!spec.ok) throw new Error(JSON.stringify(spec.issues));
  await a.state.submitJob(spec.spec);
  await waitFor(
    'agent a to see b run the container',
    () => a.state.state.allocations().some((s) => s.node === b.peerId && s.state === 'running'),
    60_000,
    () =>
      JSON.stringify({
        seenByA: a.state.state.allocations(),
        placedByB: b.workloads.placement.allocs(),
        eventsOnB: b.workloads.placement
          .allocs()
          .map((r) => ({ allocId: r.allocId, events: b.workloads.reconciler.events(r.allocId) })),
      }),
  );
  const allocId = a.state.state.allocations().find((s) => s.node === b.peerId)!.allocId;
  const logs = `http://127.0.0.1:${port}/v1/allocs/${allocId}/logs`;
  await waitFor('both lines written', async () => (await records(logs)).out.length === 3);

  // Docker counts the tail over the merged output, and filters streams and times itself.
  const both = (await records(logs)).out;
  expect(both).toContainEqual({ stream: 'stdout', line: 'hello' });
  expect(both).toContainEqual({ stream: 'stderr', line: 'oops' });
  expect(both.at(-1)).toEqual({ end: true });
  expect((await records(`${logs}?stream=stderr`)).out).toEqual([
    { stream: 'stderr', line: 'oops' },
    { end: true },
  ]);
  expect((await records(`${logs}?since=1h&stream=stdout`)).out).toEqual([
    { stream: 'stdout', line: 'hello' },
    { end: true },
  ]);
  // Both lines are older than "the last 0 ms".
  expect((await records(`${logs}?since=0`)).out).toEqual([{ end: true }]);

  // A follow through a sees a line the container prints after it started.
  const abort = new AbortController();
  const following = records(`${logs}?follow=true&tail=0`, abort.signal, (r) => r.length > 0);
  await waitFor('b to serve the follow', () => b.allocLogs.sessions().size === 1);
  // Quiet for a while: the follow carries blank lines, so HTTP clients do not give up on it.
  await new Promise((r) => setTimeout(r, 500));
  const exec = await docker
    .getContainer(containerName(allocId))
    .exec({ Cmd: ['sh', '-c', '> /tmp/go'], AttachStdout: true });
  for await (const _ of demuxFrames(
    (await exec.start({ hijack: true, stdin: false })) as AsyncIterable<Uint8Array>,
  ));
  const followed = await following;
  expect(followed.out).toEqual([{ stream: 'stdout', line: 'after-follow' }]);
  expect(followed.blanks).toBeGreaterThan(0);
  abort.abort();
  await waitFor('b to stop reading once the follow left', () => b.allocLogs.sessions().size === 0);
}, 120_000);
