import { afterAll, expect, test } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import { joinAddress, startAgent, tempDir, testConfig, waitFor } from '../support/agents.js';

const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
const summary = () =>
  agents
    .map(
      (a) =>
        `${a.config.name}: alive=${a.peers().filter((p) => p.liveness === 'alive').length} ` +
        `links=${a.host
          .getConnections()
          .map((c) => agents.find((b) => b.peerId === c.remotePeer.toString())?.config.name ?? '?')
          .join(',')}`,
    )
    .join('; ');

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(cleanups.map((c) => c()));
});

async function join(name: string, through: Agent | undefined, limits: { maxConnections?: number } = {}) {
  const dir = await tempDir();
  cleanups.push(dir.cleanup);
  const agent = await startAgent(
    testConfig({
      dataDir: dir.path,
      name,
      join: through ? [joinAddress(through)] : [],
      targetPeers: 2,
      ...limits,
    }),
  );
  agents.push(agent);
  return agent;
}

// Every device of a fleet is flashed with the same bootstrap address, so that agent fills up first. One that
// refused newcomers at its limit left each later device alone for good, with nobody else's address.
test('a newcomer whose only bootstrap agent is full still joins, and the full agent keeps its limit', async () => {
  const hub = await join('hub', undefined, { maxConnections: 3 });
  for (const name of ['a', 'b', 'c']) await join(name, hub);
  await waitFor(
    'the hub to hold its three links',
    () => hub.host.getConnections().length === 3,
    15_000,
    summary,
  );

  const late = await join('late', hub);
  await waitFor(
    'the newcomer to hear every other agent alive',
    () => late.peers().filter((p) => p.liveness === 'alive').length === 4,
    20_000,
    summary,
  );
  // The hub introduced it and then let it go: its limit holds, and the newcomer's links lead elsewhere.
  await waitFor(
    'the hub to be back at its limit, the newcomer linked to others',
    () =>
      hub.host.getConnections().length <= 3 &&
      !late.host.getConnections().some((c) => c.remotePeer.toString() === hub.peerId) &&
      late.host.getPeers().length >= 2,
    25_000,
    summary,
  );
  expect(late.peers().find((p) => p.peerId === hub.peerId)?.liveness).toBe('alive');
  expect(hub.peers().find((p) => p.peerId === late.peerId)?.liveness).toBe('alive');
});
