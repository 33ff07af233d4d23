/** StateStore.persistStaged with DurableJobWrites: stored before applied, on a real (and a read-only) dir. */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { GossipMessage } from '../../src/crdt/mesh-state.js';
import { DurableJobWrites } from '../../src/node/durable-job-write.js';
import { StateStore } from '../../src/node/state-store.js';
import { replica, spec, view } from '../crdt/replicas.js';

let dataDir: string;
const log = { warn: () => {} };

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mycel-staged-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function open(seed: number) {
  const state = replica('a', seed);
  const { store } = await StateStore.open({ dataDir, log }, state);
  const published: GossipMessage[] = [];
  const writes = new DurableJobWrites(state, store, (m) => published.push(...m));
  return { state, store, writes, published };
}

test('a staged write is on disk before the replica or its peers see it, and reloads after a crash', async () => {
  const { state, writes, published } = await open(1);
  state.submitJob('web', spec('img:1'), 'op', 1000);
  const plan = state.planSubmit('web', spec('img:2'), 'op', 2000);
  await writes.run(() => writes.add('web', plan.event!, 2000));
  expect(state.job('web')?.current.version).toBe(2);
  expect(published).toHaveLength(1);

  // No flush after the write: what reloads is what persistStaged stored (and what the submit's own write did).
  const reopened = await open(2);
  expect(reopened.state.job('web')?.current.version).toBe(2);
});

test('a write the disk refuses is applied nowhere and the error reaches the caller', async () => {
  const { state, store, writes, published } = await open(1);
  state.submitJob('web', spec('img:1'), 'op', 1000);
  await store.flush();
  const before = view(state);
  const stateDir = join(dataDir, 'state');
  execFileSync('mount', ['--bind', stateDir, stateDir]);
  execFileSync('mount', ['-o', 'remount,bind,ro', stateDir]);
  try {
    const plan = state.planSubmit('web', spec('img:2'), 'op', 2000);
    await expect(writes.run(() => writes.add('web', plan.event!, 2000))).rejects.toThrow(
      /job "web" was not stored, so nothing changed: .*EROFS.*make it writable/,
    );
  } finally {
    execFileSync('umount', [stateDir]);
  }
  expect(view(state)).toEqual(before);
  expect(published).toEqual([]);
  expect(state.drainDirty()).toEqual([]);
});
