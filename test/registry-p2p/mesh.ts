import type { Agent } from '../../src/node/agent.js';
import type { RegistryTuning } from '../../src/registry-p2p/registry-service.js';
import { joinAddress, startAgent, tempDir, testConfig, waitFor } from '../support/agents.js';

/** Timeouts short enough that a stalled source hands over within a test, long enough for a loaded CI box. */
export const FAST_REGISTRY: Partial<RegistryTuning> = {
  stallMs: 1_500,
  haveTimeoutMs: 2_000,
  requestTimeoutMs: 5_000,
};

/** `n` agents, every one linked to every other (a site), each with its own layer store and endpoint. */
export async function startSite(
  n: number,
  tuning: Partial<RegistryTuning> = FAST_REGISTRY,
): Promise<{ agents: Agent[]; stop: () => Promise<void> }> {
  const agents: Agent[] = [];
  const dirs: { cleanup: () => Promise<void> }[] = [];
  const stop = async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(dirs.map((d) => d.cleanup()));
  };
  try {
    for (let i = 0; i < n; i++) {
      const dir = await tempDir('mycel-reg-');
      dirs.push(dir);
      const first = agents[0];
      agents.push(
        await startAgent(
          testConfig({
            dataDir: dir.path,
            name: `reg-${i}`,
            registryListen: '127.0.0.1:0',
            targetPeers: n + 2,
            maxConnections: n + 8,
            join: first ? [joinAddress(first)] : [],
          }),
          { registry: tuning },
        ),
      );
    }
    await waitFor(
      'every agent linked to every other',
      () => agents.every((a) => a.host.getPeers().length >= n - 1),
      30_000,
      () => agents.map((a) => a.host.getPeers().length).join(','),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { agents, stop };
}
