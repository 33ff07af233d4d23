import type { Connection, Stream, StreamHandlerRecord } from '@libp2p/interface';
import { afterEach, expect, test } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import { STATE_SYNC_PROTOCOL } from '../../src/node/state/state-sync-protocol.js';
import { joinAddress, waitFor } from '../support/agents.js';
import { converged, jobFile, type TestMesh, testMesh } from './state-support.js';

let mesh: TestMesh;
afterEach(() => mesh.stopAll());

/** The state sync handler libp2p calls for `agent`'s inbound sessions. */
function syncHandler(agent: Agent): StreamHandlerRecord {
  const registrar = (
    agent.host as unknown as { components: { registrar: { getHandler(p: string): StreamHandlerRecord } } }
  ).components.registrar;
  return registrar.getHandler(STATE_SYNC_PROTOCOL);
}

/**
 * What one-way-out left behind after its cut healed: a connection on which liveness frames still cross but sync
 * sessions never get an answer. Here the listener takes every session on that one connection and says nothing,
 * while gossip is lost, so only anti-entropy can carry the change.
 */
test('sessions that stall on one connection are torn down, retried, and complete on a fresh connection', async () => {
  mesh = testMesh();
  // The deadline alone would hold each stalled session 20 s; the progress deadline ends it in 1. The periodic
  // round (every 1-3 s) keeps asking, as it would after a heal.
  const state = { syncIntervalMs: 2_000, sessionTimeoutMs: 20_000, progressTimeoutMs: 1_000 };
  const b = await mesh.start('b', { state });
  const a = await mesh.start('a', { join: [joinAddress(b)], state });
  await waitFor('a connection', () => a.host.getConnections(b.host.peerId).length === 1);
  await waitFor('the first sync to finish', () => converged([a, b]));
  const wedged = a.host.getConnections(b.host.peerId)[0] as Connection;

  const held: Stream[] = [];
  // Both ends: whichever side dials a session on that connection gets no answer.
  for (const [self, other] of [
    [a, b],
    [b, a],
  ] as const) {
    const wedgedHere = self.host.getConnections(other.host.peerId)[0] as Connection;
    const { handler, options } = syncHandler(self);
    await self.host.unhandle(STATE_SYNC_PROTOCOL);
    await self.host.handle(
      STATE_SYNC_PROTOCOL,
      (stream, connection) => {
        if (connection.id !== wedgedHere.id) return handler(stream, connection);
        held.push(stream);
      },
      options,
    );
  }
  a.gossip.dropInbound = () => true;

  await b.state.submitJob(jobFile('behind-a-wedge'));
  const started = Date.now();
  await waitFor('the change to arrive by anti-entropy', () => converged([a, b]), 20_000);
  expect(Date.now() - started).toBeLessThan(15_000);
  // It came over another connection: the wedged one was given up on.
  expect(held.length).toBeGreaterThanOrEqual(1);
  expect(wedged.status).not.toBe('open');
  expect(a.state.state.job('behind-a-wedge')).toBeDefined();
}, 60_000);
