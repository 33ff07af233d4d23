import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, expect, test } from 'vitest';
import { PeerSyncStates } from '../../../src/crdt/peer-sync-states.js';
import { SyncSession } from '../../../src/crdt/sync-engine.js';
import { FramedStream } from '../../../src/lib/p2p/framed-stream.js';
import { STATE_SYNC_PROTOCOL } from '../../../src/node/state/state-sync-protocol.js';
import { replica } from '../../crdt/replicas.js';
import { converged, jobFile, type TestMesh, testMesh } from '../../e2e/state-support.js';
import { joinAddress, waitFor } from '../../support/agents.js';

let mesh: TestMesh;
afterEach(() => mesh.stopAll());

/**
 * A consumer that takes its time over every frame (a busy device) slows the agent serving it; the session still
 * completes, as long as each pause is shorter than the progress deadline: slow is not stalled.
 */
test('state sync with a slow consumer completes, the serving agent waiting between frames', async () => {
  mesh = testMesh();
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const state = { syncIntervalMs: 3_600_000, progressTimeoutMs: 3_000, sessionTimeoutMs: 60_000 };
  const listener = await mesh.start('listener', { log, state });
  const dialer = await mesh.start('dialer', { join: [joinAddress(listener)], state });
  await waitFor(
    'the first sync to finish',
    () => converged([dialer, listener]) && !listener.state.isSyncing(dialer.peerId),
  );
  // Enough state that it takes several frames: each job's spec carries a few kilobytes.
  const padding = ['env:', ...[0, 1, 2].map((k) => `  PAD${k}: ${'x'.repeat(4_000)}`)].join('\n');
  for (let i = 0; i < 40; i++) await listener.state.submitJob(jobFile(`job-${i}`, [padding]));

  const slow = replica('slow-consumer');
  const session = new SyncSession(slow, listener.peerId, new PeerSyncStates());
  const stream = await dialer.host.dialProtocol(listener.host.peerId, STATE_SYNC_PROTOCOL);
  const framed = new FramedStream(stream, { maxFrameBytes: 16 * 1024 * 1024, idleTimeoutMs: 10_000 });
  const started = Date.now();
  await framed.write(session.start());
  let frames = 0;
  while (!session.done) {
    const frame = await framed.read();
    if (!frame) throw new Error('the agent ended the session early');
    frames++;
    // A third of the agent's progress deadline, every frame: slow, with room for a loaded machine.
    await sleep(1_000);
    const step = session.receive(frame, Date.now());
    if (!step.ok) throw new Error(step.error);
    if (step.send) await framed.write(step.send);
    if (step.done) break;
  }
  await framed.close();
  const seconds = (Date.now() - started) / 1000;

  expect(
    slow
      .jobs()
      .map((j) => j.name)
      .sort(),
  ).toEqual(
    listener.state.state
      .jobs()
      .map((j) => j.name)
      .sort(),
  );
  expect(slow.jobs()).toHaveLength(40);
  expect(frames).toBeGreaterThan(1);
  // The consumer's pauses, not the agent, set the pace: the session took every one of them.
  expect(seconds).toBeGreaterThanOrEqual(frames * 0.9);
  await waitFor('the agent to finish its side', () => !listener.state.isSyncing(dialer.peerId));
  expect(warnings.filter((w) => w.includes('inbound state sync failed'))).toEqual([]);
}, 60_000);
