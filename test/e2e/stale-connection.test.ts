import { multiaddr } from '@multiformats/multiaddr';
import { afterEach, expect, test } from 'vitest';
import { joinAddress, waitFor } from '../support/agents.js';
import { converged, jobFile, type TestMesh, testMesh } from './state-support.js';

let mesh: TestMesh;
afterEach(() => mesh.stopAll());

test('a second connection to a peer leaves one working connection, and the peers keep hearing each other', async () => {
  mesh = testMesh();
  const a = await mesh.start('a');
  const b = await mesh.start('b', { join: [joinAddress(a)] });
  await waitFor('a connection', () => a.host.getConnections(b.host.peerId).length === 1);
  const first = a.host.getConnections(b.host.peerId)[0]!;
  await waitFor('b heard alive', () => a.liveness.get(b.peerId, Date.now())?.status === 'alive');

  // What a peer that restarted does: dial anew while the old connection is still open here.
  const second = await b.host.dial(multiaddr(joinAddress(a)), { force: true });
  expect(second.id).not.toBe(first.id);
  await waitFor('both ends to hold two connections', () => a.host.getConnections(b.host.peerId).length === 2);

  await waitFor(
    'one connection left',
    () =>
      a.host.getConnections(b.host.peerId).length === 1 && b.host.getConnections(a.host.peerId).length === 1,
    30_000,
  );
  expect(a.liveness.get(b.peerId, Date.now())?.status).toBe('alive');
  expect(b.liveness.get(a.peerId, Date.now())?.status).toBe('alive');
  await a.state.submitJob(jobFile('after-the-second-dial'));
  await waitFor('state converged', () => converged([a, b]));
}, 60_000);
