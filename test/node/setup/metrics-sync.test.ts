import { expect, test } from 'vitest';
import { MeshMetrics } from '../../../src/node/setup/metrics.js';
import { stallReason } from '../../../src/node/state/state-sync-protocol.js';

test('the session gauges read the running sessions when scraped; stalls are told apart by their timeout', async () => {
  const metrics = new MeshMetrics({ processMetrics: false });
  let ages: number[] = [];
  metrics.watchSyncSessions(() => ages);
  expect(await metrics.registry.metrics()).toContain('mycel_state_sync_oldest_session_seconds 0');
  ages = [1_500, 31_000];
  const text = await metrics.registry.metrics();
  expect(text).toContain('mycel_state_sync_active_sessions 2');
  expect(text).toContain('mycel_state_sync_oldest_session_seconds 31');
  expect(stallReason('no progress for 5000 ms')).toBe('no-progress');
  expect(stallReason('session over 30000 ms')).toBe('deadline');
  expect(stallReason('the peer ended the session early')).toBeUndefined();
});
