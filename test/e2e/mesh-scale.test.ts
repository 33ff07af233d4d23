import { afterAll, expect, test } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import { joinAddress, startAgent, tempDir, testConfig, waitFor } from '../support/agents.js';

const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
/** Who sees how many alive and holds how many links: the failure message says where the mesh is broken. */
const summary = () =>
  agents
    .map(
      (a) =>
        `${a.config.name}: alive=${a.peers().filter((p) => p.liveness === 'alive').length} links=${a.host.getConnections().length}`,
    )
    .join('; ');

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(cleanups.map((c) => c()));
});

// Regression: gossipsub's IP-colocation penalty graylisted every peer once more than 10 shared an address
// (as on loopback, or behind a site's NAT), and the bootstrap agent silently stopped relaying.
// 16 agents: the bootstrap then holds 15 peers on one address, past the point where the penalty graylisted them.
test('16 agents behind one IP address, all joined through one of them, all see each other', async () => {
  const N = 16;
  for (let i = 0; i < N; i++) {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const join = agents[0] ? [joinAddress(agents[0])] : [];
    // One process runs all twenty, so heartbeats are slower than FAST_LIVENESS to keep CPU for the rest.
    agents.push(
      await startAgent(
        testConfig({
          dataDir: dir.path,
          name: `s${i}`,
          join,
          heartbeatIntervalMs: 1_000,
          suspectAfterMs: 4_000,
          lostAfterMs: 10_000,
        }),
      ),
    );
  }
  await waitFor(
    'every agent to see all the others alive',
    () => agents.every((a) => a.peers().filter((p) => p.liveness === 'alive').length === N - 1),
    60_000,
    summary,
  );
  // The bootstrap agent is not the only path: every agent holds direct links to other joiners too.
  await waitFor(
    'every joiner to hold a link that does not go through the bootstrap agent',
    () =>
      agents
        .slice(1)
        .every((a) => a.host.getConnections().some((c) => c.remotePeer.toString() !== agents[0]!.peerId)),
    // Under a loaded CI machine a dial can take its whole 10 s timeout before the backoff retries it.
    45_000,
    summary,
  );
  expect(agents.every((a) => a.peers().filter((p) => p.liveness === 'alive').length === N - 1)).toBe(true);
}, 150_000);
