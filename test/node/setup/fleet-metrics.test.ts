import { expect, test } from 'vitest';
import { type FleetView, MeshMetrics } from '../../../src/node/setup/metrics.js';

test('the fleet gauges show what the view counts at scrape time, and forget what no longer counts', async () => {
  const metrics = new MeshMetrics({ processMetrics: false });
  let copies: Record<string, number> = { running: 3, failed: 1 };
  const view: FleetView = {
    jobs: () => ({ running: 2, stopped: 1 }),
    copies: () => copies,
    unplaced: () => 4,
    rollouts: () => ({ canary: 1 }),
  };
  metrics.watchFleet(view);
  const text = await metrics.registry.metrics();
  expect(text).toContain('mycel_fleet_jobs{desired="running"} 2');
  expect(text).toContain('mycel_fleet_jobs{desired="stopped"} 1');
  expect(text).toContain('mycel_fleet_copies{state="running"} 3');
  expect(text).toContain('mycel_fleet_copies{state="failed"} 1');
  expect(text).toContain('mycel_fleet_unplaced_copies 4');
  expect(text).toContain('mycel_fleet_rollouts{phase="canary"} 1');

  copies = { running: 4 };
  const later = await metrics.registry.metrics();
  expect(later).toContain('mycel_fleet_copies{state="running"} 4');
  expect(later).not.toContain('state="failed"');
});
