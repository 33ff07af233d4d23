import { lpStream } from '@libp2p/utils';
import { pino } from 'pino';
import { afterEach, expect, test } from 'vitest';
import { STATE_SYNC_PROTOCOL } from '../../../src/node/state/state-sync-protocol.js';
import { converged, jobFile, type TestMesh, testMesh } from '../../e2e/state-support.js';
import { joinAddress, waitFor } from '../../support/agents.js';

let mesh: TestMesh;
afterEach(() => mesh.stopAll());

/** A listener that logs warnings into an array, and a dialer to poke it with raw streams. */
async function pair(sessionTimeoutMs = 10_000) {
  mesh = testMesh();
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  // Periodic sync is pushed far out so that only the sessions a test opens run.
  const state = { syncIntervalMs: 3_600_000, sessionTimeoutMs };
  const listener = await mesh.start('listener', { log, state });
  const dialer = await mesh.start('dialer', { join: [joinAddress(listener)], state });
  await waitFor('a connection', () => dialer.host.getConnections(listener.host.peerId).length > 0);
  // Let the session that connecting starts finish, so the tests own every session that follows.
  await waitFor(
    'the first sync to finish',
    () =>
      converged([dialer, listener]) &&
      !listener.state.isSyncing(dialer.peerId) &&
      !dialer.state.isSyncing(listener.peerId),
  );
  return { listener, dialer, warnings };
}

test('a hostile frame ends that session with a logged warning; the next session works', async () => {
  const { listener, dialer, warnings } = await pair();
  const stream = await dialer.host.dialProtocol(listener.host.peerId, STATE_SYNC_PROTOCOL);
  const lp = lpStream(stream);
  await lp.write(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]));
  await expect(lp.read()).rejects.toThrow();
  await waitFor('the warning', () => warnings.some((w) => w.includes('inbound state sync failed')));

  await listener.state.submitJob(jobFile('after-the-attack'));
  expect(await dialer.state.syncWith(listener.peerId)).toMatchObject({ kind: 'synced' });
  expect(dialer.state.state.job('after-the-attack')).toBeDefined();
  expect(converged([dialer, listener])).toBe(true);
  // Both ends count their sessions, and the listener keeps the failure for whoever looks.
  const count = async (agent: typeof listener, role: string, outcome: string) =>
    (await agent.metrics.stateSyncSessions.get()).values.find(
      (v) => v.labels.role === role && v.labels.outcome === outcome,
    )?.value ?? 0;
  expect(await count(listener, 'listener', 'failed')).toBe(1);
  expect(await count(dialer, 'dialer', 'synced')).toBeGreaterThanOrEqual(1);
  expect(listener.state.recentSyncFailures()).toMatchObject([{ peer: dialer.peerId, role: 'listener' }]);
});

test('a frame over the size limit is refused before it is buffered', async () => {
  const { listener, dialer, warnings } = await pair();
  const stream = await dialer.host.dialProtocol(listener.host.peerId, STATE_SYNC_PROTOCOL);
  // A varint length of 64 MiB followed by a little data: the listener must not wait for (or keep) the rest.
  const length = [0x80, 0x80, 0x80, 0x20];
  stream.send(new Uint8Array([...length, ...new Uint8Array(1024)]));
  await waitFor('the refusal', () => warnings.some((w) => /too long/i.test(w)));
  expect(await dialer.state.syncWith(listener.peerId)).toMatchObject({ kind: 'synced' });
});

test('a silent peer holds its slot only until the session deadline; one session per peer at a time', async () => {
  const { listener, dialer, warnings } = await pair(400);
  const silent = await dialer.host.dialProtocol(listener.host.peerId, STATE_SYNC_PROTOCOL);
  await waitFor('the listener to count the session', () => listener.state.isSyncing(dialer.peerId));
  // A second session with the same peer while the first runs is refused.
  expect(await dialer.state.syncWith(listener.peerId)).toMatchObject({ kind: 'failed' });
  await waitFor(
    'the deadline to end the silent session',
    () => !listener.state.isSyncing(dialer.peerId),
    5_000,
  );
  expect(warnings.some((w) => w.includes('session over 400 ms'))).toBe(true);
  await expect(lpStream(silent).read()).rejects.toThrow();
  expect(await dialer.state.syncWith(listener.peerId)).toMatchObject({ kind: 'synced' });
});

test('inbound sessions beyond the limit are refused at once while the admitted one continues', async () => {
  mesh = testMesh();
  const state = { syncIntervalMs: 3_600_000, maxInboundSessions: 1, sessionTimeoutMs: 10_000 };
  const listener = await mesh.start('listener', { state });
  const first = await mesh.start('first', { join: [joinAddress(listener)], state });
  const second = await mesh.start('second', { join: [joinAddress(listener)], state });
  await waitFor(
    'both connected and the connect-time sessions over',
    () =>
      converged([listener, first, second]) &&
      [first, second].every(
        (d) => !listener.state.isSyncing(d.peerId) && !d.state.isSyncing(listener.peerId),
      ),
  );
  await first.host.dialProtocol(listener.host.peerId, STATE_SYNC_PROTOCOL);
  await waitFor('the first session admitted', () => listener.state.isSyncing(first.peerId));
  const refused = await second.host.dialProtocol(listener.host.peerId, STATE_SYNC_PROTOCOL);
  await expect(lpStream(refused).read()).rejects.toThrow();
  expect(listener.state.isSyncing(second.peerId)).toBe(false);
  expect(listener.state.isSyncing(first.peerId)).toBe(true);
});
