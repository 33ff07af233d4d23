import type { Prng } from './prng.js';

/**
 * The overlay of a fleet in steady state. Connections: every node dials `targetPeers` random others (meshd's
 * peer dialer), so degrees are about twice that, capped at `maxConnections`. Mesh: on the one state topic every
 * node grafts connected peers until it has `D`, and a peer accepts while it has fewer than `Dhi`, as gossipsub's
 * heartbeat does; links are symmetric. Static: no churn, so no GRAFT/PRUNE traffic is modelled.
 */
export interface TopologyOptions {
  readonly nodes: number;
  readonly targetPeers: number;
  readonly maxConnections: number;
  readonly D: number;
  readonly Dhi: number;
}

export interface Topology {
  /** Connected peers of each node, ascending. */
  readonly connections: readonly Int32Array[];
  /** Mesh peers of each node (a subset of its connections), ascending. */
  readonly mesh: readonly Int32Array[];
}

export function buildTopology(options: TopologyOptions, random: Prng): Topology {
  const { nodes, targetPeers, maxConnections, D, Dhi } = options;
  if (nodes < 2) throw new RangeError('a fleet needs at least 2 nodes');
  const connected = Array.from({ length: nodes }, () => new Set<number>());
  for (let i = 0; i < nodes; i++) {
    const self = connected[i]!;
    let attempts = 0;
    while (self.size < Math.min(targetPeers, nodes - 1) && attempts++ < targetPeers * 20) {
      const j = random.int(nodes);
      const other = connected[j]!;
      if (j === i || self.has(j) || self.size >= maxConnections || other.size >= maxConnections) continue;
      self.add(j);
      other.add(i);
    }
  }
  const meshed = Array.from({ length: nodes }, () => new Set<number>());
  for (const i of random.sample([...Array(nodes).keys()], nodes)) {
    const self = meshed[i]!;
    const candidates = random.sample([...connected[i]!], connected[i]!.size);
    for (const j of candidates) {
      if (self.size >= D) break;
      const other = meshed[j]!;
      if (self.has(j) || other.size >= Dhi) continue;
      self.add(j);
      other.add(i);
    }
  }
  const sorted = (s: Set<number>) => Int32Array.from([...s].sort((a, b) => a - b));
  return { connections: connected.map(sorted), mesh: meshed.map(sorted) };
}

/** Index of the undirected link (a, b) in a per-link table sized by `linkCount`. */
export function linkKey(a: number, b: number, nodes: number): number {
  return a < b ? a * nodes + b : b * nodes + a;
}
