import type { ConnectionGater, PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';
import { canonicalJson } from '../../src/crdt/canonical-json.js';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { JobSpec } from '../../src/crdt/job-spec.js';
import type { Agent } from '../../src/node/agent.js';
import type { StateServiceOptions } from '../../src/node/state/state-service.js';
import { joinAddress, startAgent, tempDir, testConfig } from '../support/agents.js';

/** Shared by the replicated-state acceptance tests: agents with short anti-entropy periods, and views to compare. */
export const FAST_STATE: Partial<StateServiceOptions> = { syncIntervalMs: 1_000, sessionTimeoutMs: 10_000 };
/**
 * Heartbeats cost a signature check per message per agent; ten agents in one process at the default test rate
 * spend most of a busy 2-core machine on them, and these tests are about state, not liveness.
 */
const CALM_LIVENESS = { heartbeatIntervalMs: 1_000, suspectAfterMs: 5_000, lostAfterMs: 15_000 } as const;

/** Who may talk to whom: the tests cut the mesh in two through libp2p's connection gater. */
export class Partition {
  readonly #side = new Map<string, number>();
  #active = false;

  assign(peerId: string, side: number): void {
    this.#side.set(peerId, side);
  }

  set active(value: boolean) {
    this.#active = value;
  }

  blocks(a: string, b: string): boolean {
    return this.#active && this.#side.get(a) !== this.#side.get(b);
  }

  gaterFor(self: () => string | undefined): ConnectionGater {
    const deny = (peer: PeerId) => {
      const me = self();
      return me !== undefined && this.blocks(me, peer.toString());
    };
    return {
      denyDialMultiaddr: () => false,
      denyDialPeer: deny,
      denyInboundEncryptedConnection: deny,
      denyOutboundEncryptedConnection: deny,
    };
  }
}

export interface StartOptions {
  join?: string[];
  dataDir?: string;
  partition?: Partition;
  state?: Partial<StateServiceOptions>;
  log?: Logger;
}

export interface TestMesh {
  agents: Agent[];
  start(name: string, options?: StartOptions): Promise<Agent>;
  stopAll(): Promise<void>;
}

export function testMesh(): TestMesh {
  const agents: Agent[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  return {
    agents,
    async start(name, options = {}) {
      let dataDir = options.dataDir;
      if (!dataDir) {
        const dir = await tempDir('mycel-state-');
        cleanups.push(dir.cleanup);
        dataDir = dir.path;
      }
      let self: string | undefined;
      const agent = await startAgent(
        testConfig({ dataDir, name, driver: 'none', join: options.join ?? [], ...CALM_LIVENESS }),
        {
          ...(options.log ? { log: options.log } : {}),
          connectionGater: options.partition?.gaterFor(() => self),
          state: { ...FAST_STATE, ...options.state },
        },
      );
      self = agent.peerId;
      agents.push(agent);
      return agent;
    },
    async stopAll() {
      await Promise.all(agents.map((a) => a.stop()));
      await Promise.all(cleanups.map((c) => c()));
    },
  };
}

/** Starts `n` agents, each joining the first and one other already running, as a fleet would be seeded. */
export async function startAgents(mesh: TestMesh, n: number, options: StartOptions = {}): Promise<Agent[]> {
  const started: Agent[] = [];
  for (let i = 0; i < n; i++) {
    const join = started.length === 0 ? [] : [joinAddress(started[0] as Agent)];
    const other = started[started.length - 1];
    if (other && other !== started[0]) join.push(joinAddress(other));
    started.push(await mesh.start(`node-${i}`, { ...options, join }));
  }
  return started;
}

export function jobFile(name: string, extra: string[] = []): JobSpec {
  const parsed = parseJobFile([`name: ${name}`, 'driver: exec', 'command: /bin/sleep', ...extra].join('\n'));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.spec;
}

/** Everything a job view shows, as one comparable string. */
export function jobsOf(agent: Agent): string {
  return canonicalJson(agent.state.state.jobs());
}

/** Document ids, epochs and heads: equal means the replicas hold the very same state. */
export function headsOf(agent: Agent): string {
  return canonicalJson(agent.state.state.summaries());
}

export function converged(agents: readonly Agent[]): boolean {
  const [first, ...rest] = agents;
  if (!first) return true;
  const jobs = jobsOf(first);
  const heads = headsOf(first);
  return rest.every((a) => jobsOf(a) === jobs && headsOf(a) === heads);
}

export function describeViews(agents: readonly Agent[]): string {
  return agents
    .map(
      (a) =>
        `${a.config.name}: jobs=${a.state.state
          .jobs()
          .map((j) => `${j.name}@${j.current.version}/${j.desired}`)
          .join(',')} docs=${a.state.state.summaries().length} nodes=${a.state.state.nodes().length}`,
    )
    .join('\n');
}

/** A small seeded generator (mulberry32): the same losses on every run. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
