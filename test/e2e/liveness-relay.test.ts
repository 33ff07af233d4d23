import { afterAll, expect, test } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import type { AgentConfig } from '../../src/node/setup/config.js';
import {
  FAST_LIVENESS,
  joinAddress,
  livenessOf,
  startAgent,
  tempDir,
  testConfig,
  waitFor,
} from '../support/agents.js';

const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(cleanups.map((c) => c()));
});

async function launch(name: string, overrides: Partial<AgentConfig> = {}): Promise<Agent> {
  const dir = await tempDir();
  cleanups.push(dir.cleanup);
  const agent = await startAgent(testConfig({ dataDir: dir.path, name, ...overrides }));
  agents.push(agent);
  return agent;
}

const connected = (a: Agent, b: Agent) =>
  a.host.getConnections().some((c) => c.remotePeer.toString() === b.peerId && c.status === 'open');

/**
 * Two leaves that keep one link each, both to a hub (`targetPeers: 1`): each hears the other only through the
 * hub's liveness digests. A relayed beat counts only when it is newer, so once a leaf stops, the other turns it
 * suspect on time, while the hub still relays its last beat (until the hub itself finds it lost).
 */
test('a peer heard only through a neighbour is alive while it beats and suspect on time once it stops', async () => {
  const hub = await launch('hub');
  const leafA = await launch('leaf-a', { join: [joinAddress(hub)], targetPeers: 1 });
  const leafC = await launch('leaf-c', { join: [joinAddress(hub)], targetPeers: 1 });

  await waitFor(
    'leaf-a to hear leaf-c alive through the hub',
    () => livenessOf(leafA, leafC.peerId) === 'alive',
  );
  expect(connected(leafA, leafC)).toBe(false);
  // Longer than the lost period: only beats relayed by the hub keep it alive.
  await new Promise((resolve) => setTimeout(resolve, FAST_LIVENESS.lostAfterMs + 500));
  expect(livenessOf(leafA, leafC.peerId)).toBe('alive');
  expect(connected(leafA, leafC)).toBe(false);

  const suspected = new Promise<number>((resolve) =>
    leafA.onLivenessChange((changes) => {
      if (changes.some((c) => c.peerId === leafC.peerId && c.to === 'suspect')) resolve(Date.now());
    }),
  );
  const stoppedAt = Date.now();
  await leafC.stop();
  const suspectAfter = (await suspected) - stoppedAt;
  // Had the hub's relays of the same last beat counted as hearing leaf-c, leaf-a would hold it alive until the hub
  // lost it (lostAfterMs), then take suspectAfterMs more.
  expect(suspectAfter).toBeLessThan(
    FAST_LIVENESS.suspectAfterMs + 2 * FAST_LIVENESS.heartbeatIntervalMs + 1_000,
  );
  await waitFor('leaf-a to find leaf-c lost', () => livenessOf(leafA, leafC.peerId) === 'lost', 10_000);
});
