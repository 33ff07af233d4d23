import { describe, expect, it } from 'vitest';
import { allocId } from '../../src/scheduler/alloc-id.js';
import { deriveJobStatus, type JobStatusInput, type Reported } from '../../src/scheduler/job-status.js';
import type { AllocState, Rollout } from '../../src/scheduler/types.js';

const copy = (
  slot: number,
  state: AllocState,
  extra: Partial<Reported> & { generation?: number } = {},
): Reported => {
  const { generation = 0, ...rest } = extra;
  const version = rest.jobVersion ?? 1;
  return {
    allocId: allocId('web', version, slot, generation, 'n1'),
    job: 'web',
    jobVersion: version,
    node: 'n1',
    state,
    health: 'unknown',
    startedAt: 1000 + generation,
    restarts: 0,
    ...rest,
  };
};

const input = (over: Partial<JobStatusInput>): JobStatusInput => ({
  desired: 'running',
  type: 'service',
  version: 1,
  count: 2,
  allocations: [],
  unplaced: [],
  ...over,
});

const rollout = (over: Partial<Rollout>): Rollout => ({
  job: 'web',
  latest: 3,
  target: 3,
  phase: 'running',
  canary: 0,
  counts: { total: 2, updated: 1, healthy: 1, pending: 0, unhealthy: 0 },
  ...over,
});

describe('deriveJobStatus', () => {
  it('is running when every wanted copy runs', () => {
    const s = deriveJobStatus('web', input({ allocations: [copy(0, 'running'), copy(1, 'running')] }));
    expect(s).toEqual({
      status: 'running',
      copies: { wanted: 2, running: 2, starting: 0, failed: 0, complete: 0, unplaced: 0 },
    });
  });

  it('counts the live copy of a slot, not a newer duplicate stopped after a partition healed', () => {
    const duplicate = copy(0, 'complete', { generation: 1, node: 'n2', startedAt: 5000 });
    const s = deriveJobStatus(
      'web',
      input({ allocations: [copy(0, 'running'), duplicate, copy(1, 'running')] }),
    );
    expect(s).toEqual({
      status: 'running',
      copies: { wanted: 2, running: 2, starting: 0, failed: 0, complete: 0, unplaced: 0 },
    });
  });

  it('counts only the newest copy of each slot of the target version, not history', () => {
    const s = deriveJobStatus(
      'web',
      input({
        version: 2,
        allocations: [
          copy(0, 'complete'),
          copy(1, 'failed', { generation: 0, jobVersion: 2 }),
          copy(1, 'running', { generation: 1, jobVersion: 2 }),
          copy(0, 'running', { jobVersion: 2 }),
          { ...copy(0, 'running'), job: 'other', allocId: allocId('other', 1, 0, 0, 'n1') },
        ],
      }),
    );
    expect(s.status).toBe('running');
    expect(s.copies).toMatchObject({ wanted: 2, running: 2, failed: 0 });
  });

  it('is pending with per-dimension reasons when no copy can be placed', () => {
    const reasons = ['2 nodes evaluated', 'cpu exhausted on 2 nodes'];
    const s = deriveJobStatus(
      'web',
      input({
        unplaced: [
          { slot: 0, reasons },
          { slot: 1, reasons },
        ],
      }),
    );
    expect(s.status).toBe('pending');
    expect(s.reason).toBe('2 of 2 cannot be placed: cpu exhausted on 2 nodes');
    expect(s.copies.unplaced).toBe(2);
  });

  it('is pending while copies start, and says so', () => {
    const s = deriveJobStatus('web', input({ allocations: [copy(0, 'starting')] }));
    expect(s).toMatchObject({ status: 'pending', reason: '2 of 2 starting' });
    expect(deriveJobStatus('web', input({ placementUnknown: true })).reason).toBe(
      'not placed yet on this agent',
    );
  });

  it('is degraded when some copies run and others failed or cannot be placed', () => {
    const failed = deriveJobStatus(
      'web',
      input({ allocations: [copy(0, 'running'), copy(1, 'failed', { lastError: 'exit code 1\nmore' })] }),
    );
    expect(failed).toMatchObject({ status: 'degraded', reason: '1 of 2 failed (exit code 1)' });
    const unplaced = deriveJobStatus(
      'web',
      input({
        allocations: [copy(0, 'running')],
        unplaced: [{ slot: 1, reasons: ['1 node evaluated', 'memory exhausted on 1 node'] }],
      }),
    );
    expect(unplaced).toMatchObject({
      status: 'degraded',
      reason: '1 of 2 cannot be placed: memory exhausted on 1 node',
    });
    const unhealthy = deriveJobStatus(
      'web',
      input({ allocations: [copy(0, 'running'), copy(1, 'running', { health: 'unhealthy' })] }),
    );
    expect(unhealthy.status).toBe('degraded');
  });

  it('is failed when every copy failed', () => {
    const s = deriveJobStatus(
      'web',
      input({ allocations: [copy(0, 'failed', { lastError: 'exit code 1' }), copy(1, 'failed')] }),
    );
    expect(s).toMatchObject({ status: 'failed', reason: '2 of 2 failed (exit code 1)' });
  });

  it('is complete when every copy of a batch job finished, and a finished service is not', () => {
    const all = [copy(0, 'complete'), copy(1, 'complete')];
    expect(deriveJobStatus('web', input({ type: 'batch', allocations: all })).status).toBe('complete');
    expect(deriveJobStatus('web', input({ type: 'batch', allocations: all.slice(0, 1) })).status).toBe(
      'pending',
    );
  });

  it('is stopped when stopped, whatever still reports, and says what still runs', () => {
    const s = deriveJobStatus('web', input({ desired: 'stopped', allocations: [copy(0, 'running')] }));
    expect(s).toMatchObject({ status: 'stopped', reason: '1 copy still stopping' });
    const done = deriveJobStatus('web', input({ desired: 'stopped', allocations: [copy(0, 'complete')] }));
    expect(done).toEqual(expect.objectContaining({ status: 'stopped' }));
    expect(done.reason).toBeUndefined();
    // Its empty slots are not starting: nothing will start there.
    const gone = deriveJobStatus('web', input({ desired: 'stopped', count: 2, allocations: [] }));
    expect(gone.copies).toMatchObject({ wanted: 2, running: 0, starting: 0, unplaced: 0 });
    expect(s.copies).toMatchObject({ running: 1, starting: 0 });
  });

  it('does not call a service whose copies exited running or complete', () => {
    const s = deriveJobStatus('web', input({ allocations: [copy(0, 'complete'), copy(1, 'complete')] }));
    expect(s).toMatchObject({ status: 'pending', reason: '2 of 2 starting' });
    expect(s.copies.complete).toBe(0);
  });

  it('shows a rollout under way, a revert and a failed version', () => {
    const v3 = (state: AllocState) => copy(0, state, { jobVersion: 3 });
    const v2 = copy(1, 'running', { jobVersion: 2 });
    const rolling = deriveJobStatus(
      'web',
      input({ version: 3, allocations: [v3('running'), v2], rollout: rollout({}) }),
    );
    expect(rolling).toEqual({
      status: 'running',
      rollout: 'rolling out v3: 1/2',
      copies: { wanted: 2, running: 2, starting: 0, failed: 0, complete: 0, unplaced: 0 },
    });

    const failure = { version: 3, allocId: 'x', node: 'n1', at: 5, reason: 'health check failed' };
    const reverted = deriveJobStatus(
      'web',
      input({
        version: 3,
        allocations: [copy(0, 'running', { jobVersion: 2 }), copy(1, 'running', { jobVersion: 2 })],
        rollout: rollout({ phase: 'reverted', target: 2, failure }),
      }),
    );
    expect(reverted).toMatchObject({
      status: 'running',
      rollout: 'rolled back to v2: v3 failed: health check failed',
    });

    const failed = deriveJobStatus(
      'web',
      input({ version: 3, allocations: [v3('failed')], rollout: rollout({ phase: 'failed', failure }) }),
    );
    expect(failed.status).toBe('failed');
    expect(failed.rollout).toBe('v3 failed: health check failed');

    // A crash loop: the replacement of a copy that failed runs for a moment; the version is still failing.
    const replaced = deriveJobStatus(
      'web',
      input({
        version: 3,
        count: 1,
        allocations: [v3('running')],
        rollout: rollout({
          phase: 'failed',
          failure,
          counts: { total: 1, updated: 1, healthy: 0, pending: 1, unhealthy: 1 },
        }),
      }),
    );
    expect(replaced).toMatchObject({ status: 'failed', reason: 'version 3 failed: health check failed' });
  });

  it('shows no rollout for a first version, a finished rollout, or when no older copy runs', () => {
    const neverPlaced = deriveJobStatus(
      'web',
      input({
        version: 2,
        unplaced: [{ slot: 0, reasons: ['1 node filtered: missing driver exec'] }],
        rollout: rollout({ latest: 2, target: 2 }),
      }),
    );
    expect(neverPlaced.rollout).toBeUndefined();
    const first = rollout({ latest: 1, target: 1 });
    expect(deriveJobStatus('web', input({ rollout: first })).rollout).toBeUndefined();
    expect(
      deriveJobStatus('web', input({ rollout: rollout({ phase: 'complete' }) })).rollout,
    ).toBeUndefined();
  });

  it('mid-surge a slot whose new copy still starts is served by its running old copy', () => {
    const old = copy(0, 'running', { jobVersion: 1 });
    const fresh = copy(0, 'starting', { jobVersion: 2, generation: 1 });
    const s = deriveJobStatus(
      'web',
      input({
        version: 2,
        count: 1,
        allocations: [old, fresh],
        rollout: rollout({
          latest: 2,
          target: 2,
          counts: { total: 1, updated: 1, healthy: 0, pending: 1, unhealthy: 0 },
        }),
      }),
    );
    expect(s).toMatchObject({ status: 'running', rollout: 'rolling out v2: 0/1' });
    expect(s.copies).toMatchObject({ running: 1, starting: 0 });
  });
});
