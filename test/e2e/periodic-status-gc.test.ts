import { afterAll, expect, test } from 'vitest';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { Agent } from '../../src/node/agent.js';
import { FAST_WORKLOADS, startAgent, tempDir, testConfig, waitFor } from '../support/agents.js';

/**
 * Every periodic run leaves a replicated status; a schedule every second would grow the node's document without
 * bound. The node that ran them removes its own beyond the newest `gcFinishedPerJob` finished runs.
 */
let agent: Agent | undefined;
let cleanup: (() => Promise<void>) | undefined;

afterAll(async () => {
  await agent?.state.stopJob('beat', false).catch(() => {});
  await agent?.stop();
  await cleanup?.();
});

test('a periodic job every second keeps only the newest finished runs in the replicated state', async () => {
  const dir = await tempDir();
  cleanup = dir.cleanup;
  agent = await startAgent(
    testConfig({ dataDir: dir.path, name: 'gc', driver: 'exec', gcFinishedPerJob: 2, lostAfterMs: 500 }),
    FAST_WORKLOADS,
  );
  const spec = parseJobFile(
    ['name: beat', 'type: periodic', 'schedule: "* * * * * *"', 'driver: exec', 'command: /bin/true'].join(
      '\n',
    ),
  );
  if (!spec.ok) throw new Error(JSON.stringify(spec.errors));
  await agent.state.submitJob(spec.spec);
  const seen = new Set<string>();
  let most = 0;
  const statuses = () => agent!.state.state.allocations().filter((s) => s.job === 'beat');
  await waitFor(
    'eight runs launched',
    () => {
      const now = statuses();
      for (const s of now) seen.add(s.allocId);
      most = Math.max(most, now.length);
      return seen.size >= 8;
    },
    30_000,
  );
  // Two finished runs kept, plus the current run and one that finished since the last plan.
  expect(most).toBeLessThanOrEqual(4);
  expect(statuses().length).toBeLessThanOrEqual(4);
}, 60_000);
