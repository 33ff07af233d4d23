/** Slots an agent holds back on purpose (isolation, warm-up) in `deriveJobStatus` (issue 18). */
import { describe, expect, it } from 'vitest';
import { allocId } from '../../src/scheduler/alloc-id.js';
import { deriveJobStatus, type JobStatusInput } from '../../src/scheduler/job-status.js';

const running = (slot: number) => ({
  allocId: allocId('web', 1, slot, 0, 'n1'),
  job: 'web',
  jobVersion: 1,
  node: 'n1',
  state: 'running' as const,
  health: 'unknown' as const,
  startedAt: 1000,
  restarts: 0,
});

const input = (over: Partial<JobStatusInput>): JobStatusInput => ({
  desired: 'running',
  type: 'service',
  version: 1,
  count: 1,
  allocations: [],
  unplaced: [],
  ...over,
});

const ISOLATED = 'not replaced: this device hears no other device';

describe('deriveJobStatus with held slots', () => {
  it('a copy on an unheard device that is not replaced is pending, not running, and says why', () => {
    const s = deriveJobStatus(
      'web',
      input({ allocations: [running(0)], held: [{ slot: 0, reason: ISOLATED }] }),
    );
    expect(s).toEqual({
      status: 'pending',
      reason: `1 of 1 ${ISOLATED}`,
      copies: { wanted: 1, running: 0, starting: 0, failed: 0, complete: 0, unplaced: 0, held: 1 },
    });
  });

  it('with other slots running the job is degraded; reasons are counted per reason', () => {
    const warm = 'held back: this agent is warming up (3s left)';
    const s = deriveJobStatus(
      'web',
      input({
        count: 4,
        allocations: [running(0), running(1)],
        held: [
          { slot: 1, reason: ISOLATED },
          { slot: 2, reason: warm },
          { slot: 3, reason: warm },
        ],
      }),
    );
    expect(s.status).toBe('degraded');
    expect(s.reason).toBe(`1 of 4 ${ISOLATED}; 2 of 4 ${warm}`);
    expect(s.copies).toMatchObject({ running: 1, held: 3 });
  });

  it('without held slots nothing changes', () => {
    expect(deriveJobStatus('web', input({ allocations: [running(0)], held: [] }))).toEqual(
      deriveJobStatus('web', input({ allocations: [running(0)] })),
    );
  });
});
