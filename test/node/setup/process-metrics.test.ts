import { expect, test } from 'vitest';
import { MeshMetrics } from '../../../src/node/setup/metrics.js';

test('process metrics start at the first scrape, not when the agent starts', async () => {
  const metrics = new MeshMetrics({ processMetrics: true });
  expect(await metrics.registry.metrics()).not.toContain('process_resident_memory_bytes');
  const first = await metrics.scrape();
  expect(first).toContain('process_resident_memory_bytes');
  expect(first).toContain('nodejs_heap_size_used_bytes');
  expect(first).toContain('mycel_connections');
  // Registered once: a second scrape would throw on a duplicate metric name if it registered them again.
  expect(await metrics.scrape()).toContain('nodejs_eventloop_lag_seconds');
});

test('an agent without process metrics never collects them', async () => {
  const metrics = new MeshMetrics({ processMetrics: false });
  const text = await metrics.scrape();
  expect(text).toContain('mycel_connections');
  expect(text).not.toContain('process_resident_memory_bytes');
});
