import type { MeshState } from '../../crdt/mesh-state.js';
import type { FleetView, MeshMetrics } from '../setup/metrics.js';
import type { Service, Started } from '../setup/services.js';
import type { StateService } from '../state/state-service.js';
import type { PlacementService } from './placement-service.js';

/** The fleet gauges' counts from this agent's replica (jobs, reported copies) and its placement (unplaced, rollouts). */
export function fleetView(
  state: Pick<MeshState, 'jobs' | 'allocations'>,
  placement: Pick<PlacementService, 'desired'>,
): FleetView {
  return {
    jobs: () => countBy(state.jobs(), (j) => j.desired),
    copies: () => countBy(state.allocations(), (a) => a.state),
    unplaced: () => placement.desired()?.unplaced.length ?? 0,
    rollouts: () => countBy(placement.desired()?.rollouts ?? [], (r) => r.phase),
  };
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

/** The gauges read at scrape time: running sync sessions, and the fleet as the replica and placement see it. */
export function watchedMetrics(
  metrics: Pick<MeshMetrics, 'watchSyncSessions' | 'watchFleet'>,
  state: Started<StateService>,
  placement: () => PlacementService,
): Service {
  return {
    name: 'metrics views',
    start: () => {
      metrics.watchSyncSessions(() => state.value.activeSyncs().map((s) => s.ageMs));
      metrics.watchFleet(fleetView(state.value.state, placement()));
    },
  };
}
