import { afterAll, expect, test } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import type { LivenessChange } from '../../src/node/liveness/liveness.js';
import { FAST_LIVENESS, joinAddress, startAgent, tempDir, testConfig, waitFor } from '../support/agents.js';

const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(cleanups.map((c) => c()));
});

async function launch(name: string, join: string[] = []): Promise<Agent> {
  const dir = await tempDir();
  cleanups.push(dir.cleanup);
  const agent = await startAgent(testConfig({ dataDir: dir.path, name, join }));
  agents.push(agent);
  return agent;
}

/** Blocks this thread, as a starved CPU or a long pause blocks an agent's event loop. */
function stall(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

test('an agent whose event loop stalls past the lost period keeps its peers alive and its links open', async () => {
  const a = await launch('a');
  const b = await launch('b', [joinAddress(a)]);
  const linked = () => a.host.getConnections().some((c) => c.remotePeer.toString() === b.peerId);
  await waitFor(
    'a and b hear each other',
    () => a.status().peers.alive === 1 && b.status().peers.alive === 1,
  );
  // Links younger than the lost period are never closed for silence: wait until this one is older.
  await new Promise((resolve) => setTimeout(resolve, FAST_LIVENESS.lostAfterMs));
  const changes: LivenessChange[] = [];
  a.onLivenessChange((c) => changes.push(...c));

  stall(FAST_LIVENESS.lostAfterMs + 1_000);
  // A few ticks after the stall, with the beats that waited in the sockets read by now.
  await new Promise((resolve) => setTimeout(resolve, 4 * FAST_LIVENESS.heartbeatIntervalMs));
  expect(changes.filter((c) => c.to === 'lost')).toEqual([]);
  expect(a.status().peers.alive).toBe(1);
  expect(linked()).toBe(true);
});
