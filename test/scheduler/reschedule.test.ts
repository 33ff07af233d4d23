import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { jobSpecToInput, validateJobSpec } from '../../src/crdt/job-spec.js';
import { place } from '../../src/scheduler/placement.js';
import {
  nextDelay,
  RESCHEDULE_DEFAULTS,
  rescheduleDecision,
  reschedulePolicy,
} from '../../src/scheduler/reschedule.js';
import type { SchedAllocation } from '../../src/scheduler/types.js';
import { alive, job, merge, node, started } from './fixtures.js';

const failedAt = (copies: SchedAllocation[], at: number): SchedAllocation[] =>
  copies.map((c) => ({ ...c, state: 'failed', finishedAt: at }));

describe('a batch slot whose copy failed', () => {
  const nodes = [node('a'), node('b')];
  const batch = job('report', { type: 'batch' });

  test('gets one more copy after 5 s, and none after that one fails too', () => {
    const first = failedAt(started(place([batch], nodes, [], alive(['a', 'b']), 0)), 1_000);
    const waiting = place([batch], nodes, first, alive(['a', 'b']), 2_000);
    expect(waiting.allocs).toEqual([]);
    expect(waiting.revisitAt).toBe(6_000);

    const second = place([batch], nodes, first, alive(['a', 'b']), 6_000);
    expect(second.allocs).toMatchObject([{ slot: 0, generation: 1, status: 'run' }]);

    const both = merge(first, failedAt(started(second), 7_000));
    // Hours later: the day's one attempt is used, the slot stays failed instead of looping over the fleet.
    const later = place([batch], nodes, both, alive(['a', 'b']), 3_600_000);
    expect(later.allocs).toEqual([]);
    expect(later.unplaced).toEqual([]);
    // A day after the failures the window has passed: one more attempt.
    const nextDay = place([batch], nodes, both, alive(['a', 'b']), 7_000 + 24 * 3_600_000 + 1);
    expect(nextDay.allocs).toMatchObject([{ slot: 0, generation: 2, status: 'run' }]);
  });

  test('a new version starts afresh', () => {
    const first = failedAt(started(place([batch], nodes, [], alive(['a', 'b']), 0)), 1_000);
    const v2 = { ...batch, version: 2 };
    expect(place([v2], nodes, first, alive(['a', 'b']), 1_001).allocs).toMatchObject([
      { jobVersion: 2, status: 'run' },
    ]);
  });
});

describe('rescheduleDecision', () => {
  const service = reschedulePolicy({ type: 'service' });
  const copy = (at: number, state: SchedAllocation['state'] = 'failed', jobVersion = 1) => ({
    jobVersion,
    state,
    startedAt: at - 1,
    finishedAt: at,
  });

  test('a service slot waits longer after each failure, up to an hour', () => {
    expect(rescheduleDecision([copy(0)], 1, service, 0)).toEqual({ kind: 'wait', until: 30_000 });
    expect(rescheduleDecision([copy(0), copy(40_000)], 1, service, 40_000)).toEqual({
      kind: 'wait',
      until: 100_000,
    });
    const many = Array.from({ length: 30 }, (_, i) => copy(i));
    expect(rescheduleDecision(many, 1, service, 29)).toEqual({ kind: 'wait', until: 29 + 3_600_000 });
  });

  test('copies that did not fail, or of another version, do not count', () => {
    expect(rescheduleDecision([copy(0, 'lost'), copy(0, 'complete')], 1, service, 1)).toEqual({
      kind: 'place',
    });
    expect(rescheduleDecision([copy(0, 'failed', 2)], 1, service, 1)).toEqual({ kind: 'place' });
  });

  test('what a spec leaves out takes the defaults for its type', () => {
    expect(reschedulePolicy({ type: 'batch', reschedule: { attempts: 3 } })).toEqual({
      ...RESCHEDULE_DEFAULTS.batch,
      attempts: 3,
    });
  });

  test('by property: never a new copy before the last failure plus its delay, never more than attempts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000_000 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 120_000 }),
        fc.integer({ min: 0, max: 20_000_000 }),
        (times, attempts, delay, now) => {
          const policy = { attempts, interval: 3_600_000, delay, maxDelay: 4 * delay, unlimited: false };
          const failures = times.filter((t) => t <= now);
          const decision = rescheduleDecision(
            failures.map((t) => copy(t)),
            1,
            policy,
            now,
          );
          if (failures.length === 0) {
            expect(decision.kind).toBe('place');
            return;
          }
          const last = Math.max(...failures);
          const recent = failures.filter((t) => t > now - policy.interval).length;
          if (decision.kind === 'place') {
            expect(now).toBeGreaterThanOrEqual(last + nextDelay(recent, policy));
            expect(recent).toBeLessThanOrEqual(attempts);
          }
          if (decision.kind === 'exhausted') expect(recent).toBeGreaterThan(attempts);
        },
      ),
    );
  });
});

describe('the reschedule block of a job file', () => {
  const base = { name: 'r', driver: 'exec', command: '/bin/true', type: 'batch' };

  test('is stored as given and reads back the same', () => {
    const result = validateJobSpec({ ...base, reschedule: { attempts: 3, delay: '10s', maxDelay: '1m' } });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.spec.reschedule).toEqual({ attempts: 3, delay: 10_000, maxDelay: 60_000 });
    const again = validateJobSpec(jobSpecToInput(result.spec));
    expect(again.ok && again.spec).toEqual(result.spec);
    // Left out, the spec has no block at all (specs stored before it keep their hash).
    const plain = validateJobSpec(base);
    expect(plain.ok && 'reschedule' in plain.spec).toBe(false);
  });

  test('refuses what cannot mean anything, saying what to change', () => {
    const both = validateJobSpec({ ...base, reschedule: { unlimited: true, attempts: 2 } });
    expect(both.ok ? [] : both.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['reschedule.attempts', expect.stringContaining('leave out attempts or unlimited')],
    ]);
    const shorter = validateJobSpec({ ...base, reschedule: { delay: '1m', maxDelay: '10s' } });
    expect(shorter.ok ? [] : shorter.issues.map((i) => i.path.join('.'))).toEqual(['reschedule.maxDelay']);
    const typo = validateJobSpec({ ...base, reschedule: { atempts: 2 } });
    expect(typo.ok ? '' : typo.issues[0]?.message).toContain('attempts');
  });
});
