import { actorFor, type GossipMessage, MeshState, type MeshStateOptions } from '../../src/crdt/mesh-state.js';
import { PeerSyncStates } from '../../src/crdt/peer-sync-states.js';
import type { AllocStatus, NodeRecord } from '../../src/crdt/records.js';
import { SyncSession } from '../../src/crdt/sync-engine.js';

/** Test helpers: in-memory replicas, gossip delivery and a lock-step sync pump. */
export function replica(self: string, seed = 1, options: Partial<MeshStateOptions> = {}): MeshState {
  return new MeshState({ self, actor: actorFor(self, new Uint8Array([seed])), ...options });
}

export function deliver(
  messages: readonly GossipMessage[],
  to: readonly MeshState[],
  now = 0,
): GossipMessage[] {
  const echoes: GossipMessage[] = [];
  for (const state of to) {
    for (const message of messages) {
      const outcome = state.applyGossip(message, now);
      if (outcome.kind === 'applied') echoes.push(...outcome.publish);
    }
  }
  return echoes;
}

export interface PumpResult {
  frames: number;
  bytes: number;
  publish: GossipMessage[];
}

export function syncPair(
  a: MeshState,
  b: MeshState,
  now = 0,
  statesA = new PeerSyncStates(),
  statesB = new PeerSyncStates(),
): PumpResult {
  const sessions = [new SyncSession(a, b.self, statesA), new SyncSession(b, a.self, statesB)] as const;
  let frame: Uint8Array | undefined = sessions[0].start();
  let turn = 1;
  const result: PumpResult = { frames: 0, bytes: 0, publish: [] };
  while (frame) {
    result.frames++;
    result.bytes += frame.length;
    if (result.frames > 10_000) throw new Error('sync does not terminate');
    const step = sessions[turn]!.receive(frame, now);
    if (!step.ok) throw new Error(step.error);
    result.publish.push(...step.publish);
    frame = step.send;
    turn = 1 - turn;
  }
  if (!sessions[0].done || !sessions[1].done) throw new Error('a side did not finish');
  return result;
}

/** Full view of a replica as plain data, for equality across replicas. */
export function view(state: MeshState): unknown {
  return { jobs: state.jobs(), nodes: state.nodes(), allocations: state.allocations() };
}

export function nodeRecord(peerId: string, cpu = 4000): NodeRecord {
  return {
    peerId,
    name: `dev-${peerId}`,
    labels: { zone: 'north' },
    arch: 'arm64',
    os: 'linux',
    cpu,
    memory: 2048,
    reserved: { cpu: 100, memory: 128 },
    drivers: ['docker', 'exec'],
    agentVersion: '0.1.0',
    addresses: [`/ip4/127.0.0.1/tcp/4001/p2p/${peerId}`],
  };
}

export function alloc(node: string, allocId: string, state: AllocStatus['state'], restarts = 0): AllocStatus {
  return {
    allocId,
    job: 'web',
    jobVersion: 1,
    node,
    state,
    health: state === 'running' ? 'healthy' : 'unknown',
    startedAt: 1_000,
    restarts,
  };
}

export const spec = (image: string, count = 1) => ({ name: 'web', driver: 'docker', image, count });
