import { rm } from 'node:fs/promises';
import { multiaddr } from '@multiformats/multiaddr';
import type { Agent } from '../../src/node/agent.js';
import type { RegistryTuning } from '../../src/registry-p2p/registry-service.js';
import { joinAddress, startAgent, tempDir, testConfig, waitFor } from '../support/agents.js';

/**
 * Timeouts short enough that a stalled source hands over within a test, long enough for a loaded CI box. Silence
 * to "have" counts as "not held": the corrupt and stall tests need a loaded machine's holder heard.
 */
export const FAST_REGISTRY: Partial<RegistryTuning> = {
  stallMs: 1_500,
  haveTimeoutMs: 5_000,
  requestTimeoutMs: 5_000,
};

/** `n` agents, every one linked to every other (a site), each with its own layer store and endpoint. */
export async function startSite(
  n: number,
  tuning: Partial<RegistryTuning> = FAST_REGISTRY,
  linked = true,
  labels: (i: number) => Record<string, string> = () => ({}),
): Promise<{ agents: Agent[]; stop: () => Promise<void> }> {
  const agents: Agent[] = [];
  const dirs: { path: string }[] = [];
  const stop = async () => {
    await Promise.all(agents.map((a) => a.stop()));
    // A fetch a peer asked for may still be writing its temp file as the agents stop: retry the removal.
    await Promise.all(dirs.map((d) => rm(d.path, { recursive: true, force: true, maxRetries: 5 })));
  };
  try {
    for (let i = 0; i < n; i++) {
      const dir = await tempDir('mycel-reg-');
      dirs.push(dir);
      agents.push(
        await startAgent(
          testConfig({
            dataDir: dir.path,
            name: `reg-${i}`,
            labels: labels(i),
            registryListen: '127.0.0.1:0',
            // Image sharing does not hinge on liveness; slow heartbeats keep a loaded machine from closing links
            // it has not heard on yet (the agent closes links silent past the lost period).
            heartbeatIntervalMs: 1_000,
            suspectAfterMs: 5_000,
            lostAfterMs: 20_000,
            targetPeers: n + 2,
            maxConnections: n + 8,
            // Every earlier agent, so the site is fully linked without waiting on peer exchange.
            join: linked ? agents.map(joinAddress) : [],
          }),
          { registry: tuning },
        ),
      );
    }
    if (linked) {
      // Dial the pairs still missing rather than wait for the dialer's next rounds on a loaded machine.
      await Promise.all(
        agents.flatMap((a, i) =>
          agents
            .slice(i + 1)
            .filter((b) => !a.host.getPeers().some((p) => p.toString() === b.peerId))
            .map((b) => a.host.dial(multiaddr(joinAddress(b))).catch(() => undefined)),
        ),
      );
      await waitFor(
        'every agent linked to every other',
        () => agents.every((a) => a.host.getPeers().length >= n - 1),
        120_000,
        () => agents.map((a) => a.host.getPeers().length).join(','),
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { agents, stop };
}
