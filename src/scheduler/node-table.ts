/**
 * The nodes as this view sees them: sorted by peer id, each with its capacity after the reserve, its ring
 * position and its condition. `ready` nodes keep their work and take new work; `suspect` nodes keep theirs
 * but take nothing new (a node that may be going away is a bad place to start something); `disconnected`
 * nodes (lost, or absent from the view) run copies nobody here can see or stop.
 */
import { finish, HASH_SEED, mixString } from './hash.js';
import type { LivenessEntry, LivenessView, SchedNode } from './types.js';

export type Condition = 'ready' | 'suspect' | 'disconnected';

export interface NodeInfo {
  readonly index: number;
  readonly node: SchedNode;
  readonly hash: number;
  readonly capCpu: number;
  readonly capMemory: number;
  readonly condition: Condition;
  /** -Infinity when never heard from. */
  readonly lastSeen: number;
}

export interface Heard {
  readonly condition: Condition;
  readonly lastSeen: number;
}

export interface NodeTable {
  /** Sorted by peer id; `index` is the position here. */
  readonly nodes: readonly NodeInfo[];
  readonly byId: ReadonlyMap<string, NodeInfo>;
  readonly readyCount: number;
  /**
   * This view hears no one but itself, out of several known nodes: almost always this device's own link is
   * down rather than every other device at once, so it keeps its own work and takes over nobody else's.
   */
  readonly isolated: boolean;
  /** Condition of any peer, with or without a node record. */
  heard(peerId: string): Heard;
}

function lookup(view: LivenessView, peerId: string): LivenessEntry | undefined {
  if (view instanceof Map) return view.get(peerId);
  const record = view as Readonly<Record<string, LivenessEntry>>;
  return Object.hasOwn(record, peerId) ? record[peerId] : undefined;
}

function aliveInView(view: LivenessView): number {
  const entries =
    view instanceof Map ? view.values() : Object.values(view as Readonly<Record<string, LivenessEntry>>);
  let n = 0;
  for (const e of entries) if (e.status === 'alive') n++;
  return n;
}

function heardFrom(view: LivenessView, peerId: string): Heard {
  const entry = lookup(view, peerId);
  if (entry === undefined) return { condition: 'disconnected', lastSeen: Number.NEGATIVE_INFINITY };
  const condition =
    entry.status === 'alive' ? 'ready' : entry.status === 'suspect' ? 'suspect' : 'disconnected';
  return { condition, lastSeen: entry.lastSeen };
}

/** `nodes` must be sorted by peer id and free of duplicates. */
export function buildNodeTable(nodes: readonly SchedNode[], view: LivenessView): NodeTable {
  const infos = nodes.map((node, index): NodeInfo => {
    const { condition, lastSeen } = heardFrom(view, node.peerId);
    return {
      index,
      node,
      hash: finish(mixString(HASH_SEED, node.peerId)),
      capCpu: node.cpu - node.reserved.cpu,
      capMemory: node.memory - node.reserved.memory,
      // Drained: no new work, like a suspect node; its copies leave through the rollout (placement.ts).
      condition: node.drained === true && condition === 'ready' ? 'suspect' : condition,
      lastSeen,
    };
  });
  const byId = new Map(infos.map((info) => [info.node.peerId, info]));
  const readyCount = infos.filter((info) => info.condition === 'ready').length;
  return {
    nodes: infos,
    byId,
    readyCount,
    isolated: aliveInView(view) <= 1 && infos.length > 1,
    heard: (peerId) => byId.get(peerId) ?? heardFrom(view, peerId),
  };
}
