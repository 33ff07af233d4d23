import { describe, expect, it } from 'vitest';
import type { AllocStatus } from '../../../src/crdt/records.js';
import { nextStatus, sameStatus } from '../../../src/node/workloads/alloc-status.js';

const id = { allocId: 'web.0.0.00000000', job: 'web', jobVersion: 1, node: 'peer-self' };

describe('alloc status', () => {
  it('starts pending and unknown at now, then applies each patch over the status before', () => {
    const first = nextStatus(id, undefined, { state: 'starting' }, 100);
    expect(first).toEqual({ ...id, state: 'starting', health: 'unknown', startedAt: 100, restarts: 0 });
    const running = nextStatus(id, first, { state: 'running', startedAt: 150 }, 200);
    expect(running).toEqual({ ...first, state: 'running', startedAt: 150 });
  });

  it('keeps the first verdict whatever a later patch says, and drops lastError only when told to', () => {
    const judged = nextStatus(id, undefined, { lastError: 'boom', verdict: { healthy: false, at: 5 } }, 1);
    const later = nextStatus(id, judged, { verdict: { healthy: true, at: 9 } }, 2);
    expect(later.verdict).toEqual({ healthy: false, at: 5 });
    expect(later.lastError).toBe('boom');
    expect(nextStatus(id, later, { lastError: undefined }, 3)).not.toHaveProperty('lastError');
  });

  it('carries how a copy ended (exit code, finish time) and tells a status with them from one without', () => {
    const running = nextStatus(id, undefined, { state: 'running' }, 1);
    const done = nextStatus(id, running, { state: 'complete', exitCode: 0, finishedAt: 7 }, 7);
    expect(done).toEqual({ ...running, state: 'complete', exitCode: 0, finishedAt: 7 });
    expect(nextStatus(id, done, {}, 8)).toEqual(done);
    expect(sameStatus(done, { ...done, exitCode: 1 })).toBe(false);
    expect(sameStatus(done, { ...done, finishedAt: 8 })).toBe(false);
  });

  it('copies only the contract fields of the status before', () => {
    const before = { ...nextStatus(id, undefined, {}, 1), extra: 'x' } as AllocStatus;
    expect(nextStatus(id, before, {}, 2)).not.toHaveProperty('extra');
  });

  it('tells a status that says something new from one that does not', () => {
    const a = nextStatus(id, undefined, { state: 'running' }, 1);
    expect(sameStatus(a, { ...a })).toBe(true);
    expect(sameStatus(a, { ...a, health: 'healthy' })).toBe(false);
    expect(sameStatus(a, { ...a, verdict: { healthy: true, at: 1 } })).toBe(false);
    expect(
      sameStatus(
        { ...a, verdict: { healthy: true, at: 1, reason: 'r' } },
        { ...a, verdict: { healthy: true, at: 1 } },
      ),
    ).toBe(false);
  });
});
