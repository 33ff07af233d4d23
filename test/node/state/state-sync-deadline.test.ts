import type { Connection, Stream } from '@libp2p/interface';
import { pino } from 'pino';
import { expect, test } from 'vitest';
import { PeerSyncStates } from '../../../src/crdt/peer-sync-states.js';
import {
  StateSyncProtocol,
  type SyncProtocolDeps,
  type SyncProtocolOptions,
} from '../../../src/node/state/state-sync-protocol.js';
import { replica } from '../../crdt/replicas.js';

/** A connection whose streams open only when the test says so, whatever the abort signal says. */
function stalledConnection(peer: string) {
  const opened: ((stream: Stream) => void)[] = [];
  const connection = {
    remotePeer: { toString: () => peer },
    status: 'open',
    newStream: () => new Promise<Stream>((resolve) => opened.push(resolve)),
  } as unknown as Connection;
  return { connection, opened };
}

function protocolOver(
  connection: Connection,
  options: SyncProtocolOptions = { sessionTimeoutMs: 100, maxInboundSessions: 4 },
): StateSyncProtocol {
  const host: SyncProtocolDeps['host'] = {
    handle: async () => {},
    unhandle: async () => {},
    getConnections: () => [connection],
  };
  return new StateSyncProtocol(
    {
      host,
      state: replica('a'),
      peerStates: new PeerSyncStates(),
      now: Date.now,
      log: pino({ level: 'silent' }),
      publish: () => {},
    },
    options,
  );
}

test('a stream that never opens ends the session at its deadline: the peer is free again and the failure kept', async () => {
  const { connection, opened } = stalledConnection('peer-b');
  const protocol = protocolOver(connection);
  const outcome = await protocol.sync('peer-b');
  expect(outcome).toMatchObject({ kind: 'failed', error: expect.stringMatching(/session over 100 ms/) });
  expect(protocol.isSyncing('peer-b')).toBe(false);
  expect(protocol.activeSessions()).toEqual([]);
  expect(protocol.recentFailures()).toMatchObject([{ peer: 'peer-b', role: 'dialer' }]);
  // Out of time rather than out of bytes: the next session with this peer sends whole documents.
  expect(protocol.unsettledPeers()).toEqual(['peer-b']);

  // The stream opens at last, after the deadline: it is reset, not left open on the connection.
  let aborted: Error | undefined;
  const late = {
    abort: (err: Error) => {
      aborted = err;
    },
  };
  opened[0]?.(late as unknown as Stream);
  await new Promise((resolve) => setImmediate(resolve));
  expect(aborted?.message).toMatch(/opened after its deadline/);
});

test('a stream that never opens is given up after the progress deadline, not the whole session deadline', async () => {
  const { connection } = stalledConnection('peer-c');
  const protocol = protocolOver(connection, {
    sessionTimeoutMs: 10_000,
    progressTimeoutMs: 100,
    maxInboundSessions: 4,
  });
  const started = Date.now();
  const outcome = await protocol.sync('peer-c');
  expect(outcome).toMatchObject({
    kind: 'failed',
    error: expect.stringMatching(/^no progress .*did not open/),
  });
  expect(Date.now() - started).toBeLessThan(2_000);
  expect(protocol.isSyncing('peer-c')).toBe(false);
  // A stall is the connection's fault (a fresh one is tried), not the sync states'.
  expect(protocol.unsettledPeers()).toEqual([]);
});
