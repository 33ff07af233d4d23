import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { Agent } from '../src/node/agent.js';
import { type AgentConfig, defaultConfig } from '../src/node/setup/config.js';

/** Progress on stderr, so that stdout stays one JSON object. */
export const progress = (message: string) => process.stderr.write(`${new Date().toISOString()} ${message}\n`);

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitUntil(check: () => boolean, timeoutMs: number, pollMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (check()) return true;
    await sleep(pollMs);
  }
  return check();
}

/**
 * Starts `count` relay-only agents in one process on loopback TCP, each joining through the first and one random
 * earlier agent, into `agents` (the caller's, so that it can stop those started when a later one fails).
 * `joining` turns those bootstrap addresses into the config that joins with them.
 */
export async function startMesh(
  agents: Agent[],
  count: number,
  root: string,
  random: () => number,
  joining: (bootstrap: string[]) => Partial<AgentConfig>,
): Promise<void> {
  const log = pino({ level: 'silent' });
  for (let i = 0; i < count; i++) {
    const peers = agents.length === 0 ? [] : [agents[0], agents[Math.floor(random() * agents.length)]];
    const addresses = [...new Set(peers.map((a) => a?.addresses().find((x) => x.includes('/tcp/')) ?? ''))];
    agents.push(
      await Agent.start(
        {
          ...defaultConfig(),
          dataDir: join(root, `agent-${i}`),
          name: `edge-${i}`,
          listen: ['/ip4/127.0.0.1/tcp/0'],
          api: '127.0.0.1:0',
          driver: 'none',
          logLevel: 'silent',
          ...joining(addresses.filter((a) => a !== '')),
        },
        { log, processMetrics: false },
      ),
    );
    if ((i + 1) % 5 === 0 || i + 1 === count) progress(`${i + 1} agents started`);
  }
}

/** Every agent holds every agent's node record. */
export function waitForMesh(agents: readonly Agent[], timeoutMs: number, pollMs: number): Promise<boolean> {
  return waitUntil(
    () => agents.every((a) => a.state.state.nodes().length === agents.length),
    timeoutMs,
    pollMs,
  );
}
