/**
 * One agent in a process of its own, for bench/registry-slow.ts: an agent's RSS can only be read apart from its
 * peer's and the harness's when nothing else lives in its process. Started with the registry tuning it is given
 * (argv[2], JSON), driven over the IPC channel; says `ready` with its address once it listens.
 */
import { parseJson } from '../src/lib/json-text.js';
import type { Digest } from '../src/registry-p2p/digest.js';
import type { RegistryTuning } from '../src/registry-p2p/registry-service.js';
import { joinAddress, startAgent, tempDir, testConfig } from '../test/support/agents.js';

export interface AgentSpec {
  readonly name: string;
  readonly tuning: Partial<RegistryTuning>;
  readonly join: readonly string[];
}

export type AgentRequest =
  | { kind: 'peers' }
  | {
      kind: 'fetch';
      digest: string;
      context: { registry: string; repository: string; size: number; delegate: boolean };
    }
  | { kind: 'stop' };

export type AgentAnswer =
  | { kind: 'ready'; peerId: string; address: string }
  | { kind: 'peers'; count: number }
  | { kind: 'fetched'; ms: number; fromPeers: number; fromUpstream: number }
  | { kind: 'error'; message: string };

const send = (answer: AgentAnswer) => process.send?.(answer);

const spec = parseJson(process.argv[2] ?? '') as AgentSpec;
const dir = await tempDir('mycel-bench-agent-');
const agent = await startAgent(
  testConfig({
    dataDir: dir.path,
    name: spec.name,
    registryListen: '127.0.0.1:0',
    // As in the registry tests: slow heartbeats keep a loaded machine from closing a link during a long transfer.
    heartbeatIntervalMs: 1_000,
    suspectAfterMs: 5_000,
    lostAfterMs: 20_000,
    join: [...spec.join],
  }),
  { registry: spec.tuning },
);
send({ kind: 'ready', peerId: agent.peerId, address: joinAddress(agent) });

process.on('message', async (request: AgentRequest) => {
  try {
    if (request.kind === 'peers') send({ kind: 'peers', count: agent.host.getPeers().length });
    else if (request.kind === 'fetch') {
      const started = performance.now();
      await agent.registry.fetcher.fetch(request.digest as Digest, request.context);
      const { peers, upstream } = agent.registry.fetcher.bytesFrom;
      send({ kind: 'fetched', ms: performance.now() - started, fromPeers: peers, fromUpstream: upstream });
    } else {
      await agent.stop();
      await dir.cleanup();
      process.exit(0);
    }
  } catch (err) {
    send({ kind: 'error', message: err instanceof Error ? err.message : String(err) });
  }
});
