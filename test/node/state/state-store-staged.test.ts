/** StateStore.persistStaged with DurableWrites: stored before applied, on a real (and a read-only) dir. */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { GossipMessage } from '../../../src/crdt/mesh-state.js';
import { signValue } from '../../../src/crdt/signature.js';
import { signedTrustChange, TRUST_DOMAIN } from '../../../src/crdt/trust.js';
import { DurableWrites } from '../../../src/node/state/durable-write.js';
import { StateStore } from '../../../src/node/state/state-store.js';
import { replica, spec, view } from '../../crdt/replicas.js';
import { testKey } from '../../support/keys.js';

let dataDir: string;
const log = { warn: () => {} };

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mycel-staged-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function open(seed: number, operators?: string[]) {
  const state = replica('a', seed, operators ? { operators } : {});
  const { store } = await StateStore.open({ dataDir, log }, state);
  const published: GossipMessage[] = [];
  const writes = new DurableWrites(state, store, (m) => published.push(...m));
  return { state, store, writes, published };
}

/** Makes `state/` under the data dir read-only for the duration of `fn`. */
async function readOnlyState<T>(fn: () => Promise<T>): Promise<T> {
  const stateDir = join(dataDir, 'state');
  execFileSync('mount', ['--bind', stateDir, stateDir]);
  execFileSync('mount', ['-o', 'remount,bind,ro', stateDir]);
  try {
    return await fn();
  } finally {
    execFileSync('umount', [stateDir]);
  }
}

test('a staged write is on disk before the replica or its peers see it, and reloads after a crash', async () => {
  const { state, writes, published } = await open(1);
  state.submitJob('web', spec('img:1'), 'op', 1000);
  const plan = state.planSubmit('web', spec('img:2'), 'op', 2000);
  await writes.run(() => writes.addJobEvent('web', plan.event!, 2000));
  expect(state.job('web')?.current.version).toBe(2);
  expect(published).toHaveLength(1);

  // No flush after the write: what reloads is what persistStaged stored.
  const reopened = await open(2);
  expect(reopened.state.job('web')?.current.version).toBe(2);
});

test('a job change the disk refuses is applied nowhere and the error says what to fix', async () => {
  const { state, store, writes, published } = await open(1);
  state.submitJob('web', spec('img:1'), 'op', 1000);
  await store.flush();
  const before = view(state);
  const plan = state.planSubmit('web', spec('img:2'), 'op', 2000);
  await readOnlyState(() =>
    expect(writes.run(() => writes.addJobEvent('web', plan.event!, 2000))).rejects.toThrow(
      /job "web" was not stored, so nothing changed: .*EROFS.*make it writable/,
    ),
  );
  expect(view(state)).toEqual(before);
  expect(published).toEqual([]);
  expect(state.drainDirty()).toEqual([]);
});

test('a trust change the disk refuses is applied nowhere: the device is not revoked', async () => {
  const operator = await testKey();
  const { state, store, writes, published } = await open(1, [operator.id]);
  await store.flush();
  const change = { kind: 'revoke-node' as const, subject: 'peer-x', at: 1000 };
  const revoke = signedTrustChange(change, signValue(TRUST_DOMAIN, change, operator.id, operator.sign));
  await readOnlyState(() =>
    expect(writes.run(() => writes.addTrustChange(revoke, 1000))).rejects.toThrow(
      /revoke-node change of peer-x was not stored, so nothing changed: .*EROFS/,
    ),
  );
  expect(state.isRevoked('peer-x')).toBe(false);
  expect(published).toEqual([]);

  await writes.run(() => writes.addTrustChange(revoke, 1000));
  expect(state.isRevoked('peer-x')).toBe(true);
  expect((await open(2, [operator.id])).state.isRevoked('peer-x')).toBe(true);
});
