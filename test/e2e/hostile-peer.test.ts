import { randomBytes } from 'node:crypto';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { lpStream } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import { afterEach, expect, test } from 'vitest';
import { STATE_TOPIC } from '../../src/crdt/gossip-codec.js';
import { createHost, type MeshHost } from '../../src/node/net/libp2p-host.js';
import { PEER_EXCHANGE_PROTOCOL } from '../../src/node/net/peer-exchange.js';
import { GRAYLIST_THRESHOLD } from '../../src/node/net/pubsub.js';
import { STATE_SYNC_PROTOCOL } from '../../src/node/state/state-sync-protocol.js';
import { joinAddress, waitFor } from '../support/agents.js';
import { converged, jobFile, startAgents, type TestMesh, testMesh } from './state-support.js';

let mesh: TestMesh;
let hostile: MeshHost | undefined;
afterEach(async () => {
  await hostile?.stop();
  await mesh.stopAll();
});

/** The score and mesh views the gossipsub class has and its exported interface does not declare. */
type Scoring = { getScore(peer: string): number; getMeshPeers(topic: string): string[] };
const scoring = (host: MeshHost) => host.services.pubsub as unknown as Scoring;

async function dropped(
  agent: { metrics: { inboundDropped: { get(): Promise<{ values: { labels: object; value: number }[] }> } } },
  kind: string,
) {
  const { values } = await agent.metrics.inboundDropped.get();
  return values.find((v) => (v.labels as { kind?: string }).kind === kind)?.value ?? 0;
}

test('a peer that gossips garbage and floods requests is graylisted and rate-limited; the mesh keeps working', async () => {
  mesh = testMesh();
  const [victim, honest] = await startAgents(mesh, 2);
  if (!victim || !honest) throw new Error('agents did not start');
  await waitFor('the honest pair to converge', () => converged([victim, honest]));

  // A real libp2p peer with this project's stack and its own identity, but none of the agent's manners.
  hostile = await createHost({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    maxConnections: 8,
    pingIntervalMs: 60_000,
  });
  const attacker = hostile;
  const pubsub = attacker.services.pubsub;
  pubsub.subscribe(STATE_TOPIC);
  await attacker.dial(multiaddr(joinAddress(victim)));
  await waitFor(
    'the attacker and the victim to share a mesh',
    () =>
      scoring(attacker).getMeshPeers(STATE_TOPIC).includes(victim.peerId) &&
      scoring(victim.host).getMeshPeers(STATE_TOPIC).includes(attacker.peerId.toString()),
  );
  const id = attacker.peerId.toString();

  // Garbage on the state topic: every message fails the victim's topic validator.
  for (let i = 0; i < 40; i++) {
    await pubsub.publish(STATE_TOPIC, randomBytes(64 + i)).catch(() => undefined);
  }
  await waitFor(
    'the attacker to be graylisted',
    () => scoring(victim.host).getScore(id) < GRAYLIST_THRESHOLD,
    10_000,
    () => `score ${scoring(victim.host).getScore(id)}`,
  );
  await waitFor('the attacker to leave the mesh', () =>
    scoring(victim.host)
      .getMeshPeers(STATE_TOPIC)
      .every((p) => p !== id),
  );

  // A flood of sync sessions and peer-exchange requests, sent one after another as fast as they are refused.
  for (let i = 0; i < 80; i++) {
    const stream = await attacker
      .dialProtocol(victim.host.peerId, STATE_SYNC_PROTOCOL)
      .catch(() => undefined);
    if (!stream) continue;
    await lpStream(stream)
      .write(new Uint8Array([1, 9, 9, 9]))
      .catch(() => undefined);
    await lpStream(stream)
      .read({ signal: AbortSignal.timeout(2_000) })
      .catch(() => undefined);
    stream.abort(new Error('done'));
  }
  for (let i = 0; i < 12; i++) {
    const stream = await attacker
      .dialProtocol(victim.host.peerId, PEER_EXCHANGE_PROTOCOL)
      .catch(() => undefined);
    await stream?.close().catch(() => stream.abort(new Error('done')));
  }
  await waitFor('the sync flood to be rate-limited', async () => (await dropped(victim, 'sync')) > 0);
  await waitFor(
    'the exchange flood to be rate-limited',
    async () => (await dropped(victim, 'peer-exchange')) > 0,
  );

  // The honest peers never noticed: a job submitted on one reaches the other, and liveness holds.
  await honest.state.submitJob(jobFile('after-the-attack'));
  await waitFor(
    'the job to reach the victim',
    () => victim.state.state.job('after-the-attack') !== undefined,
  );
  await waitFor('the honest pair to converge again', () => converged([victim, honest]));
  expect(scoring(victim.host).getScore(honest.peerId)).toBeGreaterThanOrEqual(0);
  expect(victim.liveness.get(honest.peerId, Date.now())?.status).toBe('alive');
  expect(victim.liveness.get(id, Date.now())).toBeUndefined();
});
