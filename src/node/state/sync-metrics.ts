import type { MeshMetrics } from '../setup/metrics.js';
import type { StateServiceDeps } from './state-service.js';
import { stallReason } from './state-sync-protocol.js';

/**
 * Counts each anti-entropy session's end, and why a stalled one stalled; `synced` hears of every session that
 * completed (the agent's boot hold ends at the first).
 */
export function syncMetrics(
  metrics: Pick<MeshMetrics, 'stateSyncSessions' | 'stateSyncStalls'>,
  synced: () => void = () => {},
): NonNullable<StateServiceDeps['syncEnded']> {
  return (role, outcome, error) => {
    metrics.stateSyncSessions.inc({ role, outcome });
    if (outcome === 'synced') synced();
    const reason = error === undefined ? undefined : stallReason(error);
    if (reason) metrics.stateSyncStalls.inc({ role, reason });
  };
}
