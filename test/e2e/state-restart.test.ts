import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { joinAddress, tempDir, waitFor } from '../support/agents.js';
import {
  converged,
  describeViews,
  jobFile,
  jobsOf,
  startAgents,
  type TestMesh,
  testMesh,
} from './state-support.js';

let mesh: TestMesh;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await mesh.stopAll();
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function dataDir(): Promise<string> {
  const dir = await tempDir('mycel-restart-');
  cleanups.push(dir.cleanup);
  return dir.path;
}

test('a restarted agent reloads its state from disk and an idle one writes nothing', async () => {
  mesh = testMesh();
  const dir = await dataDir();
  const first = await mesh.start('solo', { dataDir: dir, state: { flushIntervalMs: 100 } });
  await first.state.submitJob(jobFile('kept', ['count: 2']));
  await first.state.stopJob('kept', false);
  const before = jobsOf(first);
  await first.stop();

  const again = await mesh.start('solo', { dataDir: dir, state: { flushIntervalMs: 100 } });
  expect(again.peerId).toBe(first.peerId);
  expect(jobsOf(again)).toBe(before);
  expect(again.state.state.job('kept')?.desired).toBe('stopped');
  expect(again.state.loadReport.skipped).toEqual([]);
  expect(again.state.loadReport.problems).toEqual([]);
  // Its record changed (a new listen port) and is written; once that is flushed, flush ticks with nothing new
  // do no I/O at all.
  await waitFor('the new record on disk', () => again.state.store.stats.writes > 0);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const settled = again.state.store.stats.writes;
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(again.state.store.stats.writes).toBe(settled);
  await again.state.submitJob(jobFile('next'));
  expect(again.state.store.stats.writes).toBeGreaterThan(settled);
});

test('a corrupted state file is survived and repaired from peers', async () => {
  mesh = testMesh();
  const agents = await startAgents(mesh, 3);
  const [a0, , victim] = agents;
  if (!a0 || !victim) throw new Error('three agents expected');
  for (let i = 0; i < 6; i++) await agents[i % 2]?.state.submitJob(jobFile(`job-${i}`, [`count: ${i}`]));
  await waitFor(
    'three agents agree',
    () => converged(agents),
    15_000,
    () => describeViews(agents),
  );
  const victimDir = victim.config.dataDir;
  await victim.stop();

  // Damage the middle of every record file the victim has: bit flips, then foreign bytes at the end.
  const stateDir = join(victimDir, 'state');
  let damaged = 0;
  for (const file of ['docs.snap', 'docs.log']) {
    const path = join(stateDir, file);
    const size = await stat(path).then(
      (s) => s.size,
      () => 0,
    );
    if (size === 0) continue;
    const bytes = await readFile(path);
    for (let at = Math.floor(size / 3); at < Math.floor((2 * size) / 3); at += 7)
      bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    await writeFile(path, Buffer.concat([bytes, Buffer.from('not a record at all')]));
    damaged++;
  }
  expect(damaged).toBeGreaterThan(0);

  const revived = await mesh.start(victim.config.name, { dataDir: victimDir, join: [joinAddress(a0)] });
  const report = revived.state.loadReport;
  expect(report.skipped.length + report.problems.length).toBeGreaterThan(0);
  const survivors = agents.filter((a) => a !== victim);
  await waitFor(
    'the revived agent repaired from its peers',
    () => converged([...survivors, revived]),
    20_000,
    () => describeViews([...survivors, revived]),
  );
  expect(revived.state.state.jobs()).toHaveLength(6);
});
