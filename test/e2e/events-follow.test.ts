import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { MeshEvent } from '../../src/node/api/types.js';
import { tempDir, waitFor } from '../support/agents.js';
import { apiPost, type MeshdAgent, startMeshdMesh, stopMeshd } from '../support/meshd-mesh.js';
import { bundle, MESHCTL } from '../support/processes.js';

/**
 * `meshctl events --follow` on one agent, as an operator runs it: three real agents, a job submitted on another
 * one, its copies starting, and an agent stopping, each printed within 2 s of happening.
 */
const cleanups: (() => Promise<void>)[] = [];
beforeAll(bundle, 120_000);
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

test('events --follow shows a job submitted elsewhere, its copies starting and an agent stopping, within 2 s', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const timing = {
    driver: 'exec',
    heartbeatIntervalMs: 250,
    suspectAfterMs: 1_000,
    lostAfterMs: 3_000,
  } as const;
  const { agents } = await startMeshdMesh(tmp.path, ['e0', 'e1', 'e2'], timing);
  cleanups.push(() => Promise.all(agents.map(stopMeshd)).then(() => undefined));
  const [watcher, submitter, leaver] = agents as [MeshdAgent, MeshdAgent, MeshdAgent];

  const follow = spawn(
    process.execPath,
    [MESHCTL, '--api', watcher.api, '--data-dir', watcher.dataDir, '-o', 'json', 'events', '--follow'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  cleanups.push(async () => void follow.kill('SIGINT'));
  const seen: { event: MeshEvent; printedAt: number }[] = [];
  let pending = '';
  follow.stdout.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines)
      if (line) seen.push({ event: JSON.parse(line) as MeshEvent, printedAt: Date.now() });
  });
  let stderr = '';
  follow.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const printed = async (what: string, match: (e: MeshEvent) => boolean, since: number) => {
    await waitFor(
      what,
      () => seen.some((s) => match(s.event)),
      10_000,
      () => `${stderr}\n${JSON.stringify(seen)}`,
    );
    const first = seen.find((s) => match(s.event))!;
    return first.printedAt - since;
  };
  // The follow starts with what the agent kept: once this job shows, the stream is live, however slowly
  // meshctl started.
  await apiPost(watcher, '/v1/jobs', {
    source: 'name: marker\ndriver: exec\ncommand: /bin/true\ncount: 0\n',
    fileName: 'marker.yaml',
  });
  await printed('the marker job', (e) => e.kind === 'job-submitted' && e.job === 'marker', Date.now());

  const submittedAt = Date.now();
  await apiPost(submitter, '/v1/jobs', {
    source: ['name: ticker', 'driver: exec', 'command: /bin/sleep', 'args: ["600"]', 'count: 2', ''].join(
      '\n',
    ),
    fileName: 'ticker.yaml',
  });
  const submitLag = await printed(
    'job-submitted',
    (e) => e.kind === 'job-submitted' && e.job === 'ticker',
    submittedAt,
  );
  expect(submitLag).toBeLessThan(2_000);
  await printed(
    'both copies running',
    () => seen.filter((s) => s.event.kind === 'copy-running' && s.event.job === 'ticker').length === 2,
    submittedAt,
  );
  const running = seen.filter((s) => s.event.kind === 'copy-running' && s.event.job === 'ticker');
  expect(new Set(running.map((s) => s.event.allocId)).size).toBe(2);
  expect(running.every((s) => s.event.nodeName?.startsWith('e'))).toBe(true);

  // The fleet gauges of the watching agent count what it sees: two jobs to run, the two copies running.
  const token = (await readFile(join(watcher.dataDir, 'api.token'), 'utf8')).trim();
  const metrics = await (
    await fetch(`${watcher.api}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  ).text();
  expect(metrics).toContain('mycel_fleet_jobs{desired="running"} 2');
  expect(metrics).toContain('mycel_fleet_copies{state="running"} 2');
  expect(metrics).toContain('mycel_fleet_unplaced_copies 0');

  const stoppedAt = Date.now();
  await stopMeshd(leaver);
  const leaveLag = await printed(
    'the stopped agent leaving',
    (e) => e.node === leaver.peerId && (e.kind === 'device-left' || e.kind === 'device-lost'),
    stoppedAt,
  );
  expect(leaveLag).toBeLessThan(2_000);
  // Sequence numbers increase: a follower that reconnects can ask for what came after.
  const seqs = seen.map((s) => s.event.seq);
  expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  expect(follow.exitCode).toBeNull();
}, 90_000);
