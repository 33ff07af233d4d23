import type { MeshMetrics } from '../setup/metrics.js';
import type { StateServiceDeps } from './state-service.js';
import { stallReason } from './state-sync-protocol.js';

/** Counts each anti-entropy session's end, and why a stalled one stalled. */
export function syncMetrics(
  metrics: Pick<MeshMetrics, 'stateSyncSessions' | 'stateSyncStalls'>,
): NonNullable<StateServiceDeps['syncEnded']> {
  return (role, outcome, error) => {
    metrics.stateSyncSessions.inc({ role, outcome });
    const reason = error === undefined ? undefined : stallReason(error);
    if (reason) metrics.stateSyncStalls.inc({ role, reason });
  };
}
