import { afterAll, expect, test } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import { joinAddress, startAgent, tempDir, testConfig, waitFor } from '../support/agents.js';

const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(cleanups.map((c) => c()));
});

// Regression: gossipsub's IP-colocation penalty graylisted every peer once more than 10 shared an address
// (as on loopback, or behind a site's NAT), and the bootstrap agent silently stopped relaying.
test('20 agents behind one IP address, all joined through one of them, all see each other', async () => {
  const N = 20;
  for (let i = 0; i < N; i++) {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const join = agents[0] ? [joinAddress(agents[0])] : [];
    agents.push(await startAgent(testConfig({ dataDir: dir.path, name: `s${i}`, join })));
  }
  await waitFor(
    'every agent to see the other 19 alive',
    () => agents.every((a) => a.peers().filter((p) => p.liveness === 'alive').length === N - 1),
    30_000,
  );
  // The bootstrap agent is not the only path: every agent holds direct links to other joiners too.
  for (const a of agents.slice(1)) {
    expect(a.host.getConnections().some((c) => c.remotePeer.toString() !== agents[0]!.peerId)).toBe(true);
  }
}, 90_000);
