import { canonicalJson } from '../../src/crdt/canonical-json.js';
import type { MeshState } from '../../src/crdt/mesh-state.js';
import type { NodeRecord } from '../../src/crdt/records.js';
import { type PeerLiveness, placementInput } from '../../src/node/placement/placement-input.js';
import { place } from '../../src/scheduler/index.js';

/**
 * Runs what every agent runs (placementInput, then place) on several replicas and compares the results byte
 * for byte. The liveness view is the same on every replica (everyone alive, heard now): the simulator does not
 * model liveness disagreement, only replicated state.
 */
export interface PlacementAgreement {
  readonly replicas: number;
  readonly identical: boolean;
  /** Distinct placements among the replicas compared (1 when they agree). */
  readonly distinct: number;
  readonly allocs: number;
  readonly unplacedSlots: number;
}

export function comparePlacements(
  replicas: readonly MeshState[],
  records: readonly NodeRecord[],
  now: number,
): PlacementAgreement {
  const liveness: PeerLiveness[] = records.map((r) => ({ peerId: r.peerId, status: 'alive', lastSeen: now }));
  const outputs = new Map<string, { allocs: number; unplaced: number }>();
  for (const state of replicas) {
    const input = placementInput(
      { jobs: state.jobs(), nodes: records, allocations: state.allocations() },
      liveness,
      state.self,
      now,
    );
    const desired = place(input.jobs, input.nodes, input.allocations, input.liveness, now);
    outputs.set(canonicalJson(desired), {
      allocs: desired.allocs.length,
      unplaced: desired.unplaced.length,
    });
  }
  const first = [...outputs.values()][0];
  return {
    replicas: replicas.length,
    identical: outputs.size === 1,
    distinct: outputs.size,
    allocs: first?.allocs ?? 0,
    unplacedSlots: first?.unplaced ?? 0,
  };
}
