import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { MeshState } from '../../../src/crdt/mesh-state.js';
import { StateStore, type StateStoreOptions } from '../../../src/node/state/state-store.js';
import { alloc, nodeRecord, replica, spec, syncPair, view } from '../../crdt/replicas.js';

let dataDir: string;
const warnings: string[] = [];
const log = { warn: (_fields: object, message: string) => warnings.push(message) };

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mycel-state-'));
  warnings.length = 0;
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function openFresh(options: Partial<StateStoreOptions> = {}, seed = 9) {
  const state = replica('a', seed);
  const opened = await StateStore.open({ dataDir, log, ...options }, state);
  return { state, ...opened };
}

function populate(state: MeshState, jobs = 5): void {
  for (let i = 0; i < jobs; i++) state.submitJob(`job-${i}`, spec(`img:${i}`), 'op', 1000 + i);
  state.putNodeRecord(nodeRecord(state.self), 2000);
  state.putAllocStatus(alloc(state.self, 'web-1', 'running'), 2100);
}

test('a flushed state reloads identically, from the log and after a snapshot', async () => {
  const { state, store } = await openFresh({ snapshotAfterLogBytes: 2000 });
  populate(state);
  await store.flush();
  state.submitJob('job-0', spec('img:new'), 'op', 3000);
  state.putAllocStatus(alloc('a', 'web-1', 'failed', 1), 3100);
  await store.flush();
  for (let i = 0; i < 30; i++) state.putAllocStatus(alloc('a', 'web-1', 'running', i + 2), 4000 + i);
  await store.flush();
  expect(store.stats.snapshots).toBeGreaterThan(0);

  const reopened = await openFresh({}, 10);
  expect(reopened.report).toMatchObject({ skipped: [], problems: [] });
  expect(view(reopened.state)).toEqual(view(state));
  expect(reopened.state.job('job-0')!.current.spec).toEqual(spec('img:new'));
});

test('flush is durable before it resolves and an idle store writes nothing', async () => {
  const { state, store } = await openFresh({ flushIntervalMs: 5 });
  state.submitJob('web', spec('img:1'), 'op', 0);
  await store.flush();
  const writes = store.stats.writes;
  expect(writes).toBe(1);
  // Visible to a second process reading the files, without close().
  expect((await openFresh({}, 11)).state.job('web')).toBeDefined();

  store.start();
  await new Promise((resolve) => setTimeout(resolve, 60));
  await store.flush();
  expect(store.stats.writes).toBe(writes);
  state.putNodeRecord(nodeRecord('a'), 10);
  await new Promise((resolve) => setTimeout(resolve, 60));
  expect(store.stats.writes).toBe(writes + 1);
  await store.close();
});

test('a truncated log tail is survived: earlier records kept, damage logged, files cleaned', async () => {
  const { state, store } = await openFresh();
  state.submitJob('first', spec('img:1'), 'op', 0);
  await store.flush();
  state.submitJob('second', spec('img:2'), 'op', 1);
  await store.flush();
  const logPath = join(dataDir, 'state', 'docs.log');
  await truncate(logPath, (await stat(logPath)).size - 5);

  const reopened = await openFresh({}, 12);
  expect(reopened.state.jobs().map((j) => j.name)).toEqual(['first']);
  expect(reopened.report.skipped).toEqual([
    expect.objectContaining({ file: 'docs.log', reason: 'truncated' }),
  ]);
  expect(warnings.join()).toMatch(/damaged/);
  // The clean snapshot written at open means the next start finds nothing wrong.
  expect((await openFresh({}, 13)).report).toMatchObject({ skipped: [], problems: [] });
});

test('a corrupt record in the middle costs only that record', async () => {
  const { state, store } = await openFresh();
  for (const name of ['one', 'two', 'three']) {
    state.submitJob(name, spec(name), 'op', 0);
    await store.flush();
  }
  const logPath = join(dataDir, 'state', 'docs.log');
  const bytes = new Uint8Array(await readFile(logPath));
  // Three records of similar size: the middle byte lies inside the second one's payload.
  const middle = Math.floor(bytes.length / 2);
  bytes[middle] = (bytes[middle] ?? 0) ^ 0xff;
  await writeFile(logPath, bytes);

  const reopened = await openFresh({}, 14);
  expect(reopened.report.skipped.map((s) => s.reason)).toEqual(['checksum']);
  expect(reopened.state.jobs().map((j) => j.name)).toEqual(['one', 'three']);
});

test('garbage files do not stop the store; peers re-sync what was lost', async () => {
  const peer = replica('b', 3);
  populate(peer);
  await openFresh();
  await writeFile(join(dataDir, 'state', 'docs.snap'), Buffer.from('not a state file at all'.repeat(50)));
  await writeFile(join(dataDir, 'state', 'sync-states.bin'), Buffer.from([1, 2, 3]));
  const { state, report } = await openFresh({}, 15);
  expect(report.skipped.length).toBeGreaterThan(0);
  expect(report.problems.join()).toMatch(/sync-states/);
  expect(state.jobs()).toEqual([]);
  syncPair(state, peer, 5000);
  expect(view(state)).toEqual(view(peer));
});

test('per-peer sync states are persisted in batches and reloaded', async () => {
  const { state, store, peerStates } = await openFresh();
  const peer = replica('b', 3);
  populate(peer);
  state.submitJob('mine', spec('x'), 'op', 0);
  syncPair(state, peer, 0, peerStates);
  // Same document at the same epoch on both sides: the only case that runs Automerge sync and keeps a state.
  peer.submitJob('mine', spec('y'), 'op', 1);
  syncPair(state, peer, 2, peerStates);
  await store.flush();
  const reopened = await openFresh({}, 16);
  expect(reopened.peerStates.peerIds()).toEqual(['b']);
  const flushes = store.stats.writes;
  await store.flush();
  expect(store.stats.writes).toBe(flushes);
});
