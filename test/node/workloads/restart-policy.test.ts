import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Restart } from '../../../src/crdt/job-spec.js';
import {
  type Backoff,
  backoffDelay,
  DEFAULT_BACKOFF,
  decideRestart,
  restartsInWindow,
} from '../../../src/node/workloads/restart-policy.js';

const service = { jobType: 'service', exitCode: 1 } as const;
const policy = (p: Partial<Restart> = {}): Restart => ({
  attempts: 2,
  interval: 60_000,
  delay: 1_000,
  mode: 'fail',
  ...p,
});

describe('restart policy: decisions', () => {
  it.each([
    // [name, policy, exit, restarts so far, now, expected]
    ['first exit restarts after the delay', policy(), service, [], 10_000, { action: 'restart', at: 11_000 }],
    ['second exit backs off to twice the delay', policy(), service, [11_000], 20_000, { at: 22_000 }],
    [
      'past the attempts, mode fail gives up',
      policy(),
      service,
      [11_000, 22_000],
      30_000,
      { action: 'fail' },
    ],
    ['old restarts leave the window', policy(), service, [11_000, 22_000], 72_000, { at: 74_000 }],
    [
      'past the attempts, mode delay waits for the oldest restart to leave the window',
      policy({ mode: 'delay' }),
      service,
      [11_000, 22_000],
      30_000,
      { action: 'restart', at: 71_000 },
    ],
    ['attempts 0, mode fail: no restart at all', policy({ attempts: 0 }), service, [], 0, { action: 'fail' }],
    [
      'attempts 0, mode delay: once per interval',
      policy({ attempts: 0, mode: 'delay' }),
      service,
      [5_000],
      6_000,
      { action: 'restart', at: 65_000 },
    ],
    [
      'a batch job that exits 0 is complete',
      policy(),
      { jobType: 'batch', exitCode: 0 },
      [1, 2],
      3,
      { action: 'complete' },
    ],
    [
      'a service that exits 0 has failed and restarts',
      policy(),
      { jobType: 'service', exitCode: 0 },
      [],
      0,
      { action: 'restart' },
    ],
    [
      'an unseen exit code of a batch job counts as a failure',
      policy(),
      { jobType: 'batch' },
      [],
      0,
      { action: 'restart' },
    ],
  ] as const)('%s', (_, p, exit, restarts, now, expected) => {
    expect(decideRestart(p, exit, restarts, now)).toMatchObject(expected);
  });

  it('says why it gave up', () => {
    const decision = decideRestart(policy({ interval: 30 * 60_000 }), service, [1, 2], 3);
    expect(decision).toEqual({
      action: 'fail',
      reason: 'gave up after 2 restarts within 30m (restart mode fail)',
    });
  });

  it('caps the grown delay, but never below the policy delay', () => {
    const backoff: Backoff = { factor: 2, capMs: 5_000 };
    expect([0, 1, 2, 3, 4].map((k) => backoffDelay(policy(), k, backoff))).toEqual([
      1_000, 2_000, 4_000, 5_000, 5_000,
    ]);
    expect(backoffDelay(policy({ delay: 9_000 }), 3, backoff)).toBe(9_000);
  });

  it('restarts an exit found at adoption (a reboot) at once, counted, and still gives up past the window', () => {
    const unwatched = { jobType: 'service', unwatched: true } as const;
    expect(decideRestart(policy({ delay: 15_000 }), unwatched, [90], 100)).toEqual({
      action: 'restart',
      at: 100,
      delayMs: 0,
      reason: 'restart 2 of 2 within 1m',
    });
    expect(decideRestart(policy(), unwatched, [1, 2], 3)).toMatchObject({ action: 'fail' });
  });

  it('keeps only the restarts that still count', () => {
    expect(restartsInWindow(policy({ interval: 100 }), [0, 50, 100, 150], 200)).toEqual([150]);
  });
});

const restartArb = fc.record({
  attempts: fc.integer({ min: 0, max: 6 }),
  interval: fc.integer({ min: 1_000, max: 100_000 }),
  delay: fc.integer({ min: 0, max: 5_000 }),
  mode: fc.constantFrom('fail' as const, 'delay' as const),
});
const backoffArb = fc.record({
  factor: fc.double({ min: 1, max: 3, noNaN: true }),
  capMs: fc.integer({ min: 0, max: 20_000 }),
});

/** Runs a workload that exits after each of `runs` ms and returns the times it was restarted. */
function simulate(p: Restart, runs: readonly number[], backoff: Backoff) {
  const restarts: number[] = [];
  const decisions = [];
  let now = 0;
  for (const run of runs) {
    now += run;
    const decision = decideRestart(p, service, restartsInWindow(p, restarts, now), now, backoff);
    decisions.push({ ...decision, now, earlier: restarts.length });
    if (decision.action !== 'restart') break;
    expect(decision.at).toBeGreaterThanOrEqual(now);
    now = decision.at;
    restarts.push(now);
  }
  return { restarts, decisions };
}

describe('restart policy: properties', () => {
  it('never restarts more than `attempts` times within any `interval`', () => {
    fc.assert(
      fc.property(restartArb, fc.array(fc.nat(30_000), { maxLength: 40 }), backoffArb, (p, runs, backoff) => {
        const { restarts } = simulate(p, runs, backoff);
        // attempts 0 in mode delay still restarts once per interval (Nomad's behaviour).
        const allowed = p.mode === 'delay' ? Math.max(1, p.attempts) : p.attempts;
        for (let i = 0; i + allowed < restarts.length; i++) {
          expect(restarts[i + allowed]! - restarts[i]!).toBeGreaterThanOrEqual(p.interval);
        }
      }),
    );
  });

  it('mode delay never fails; mode fail fails exactly when the window is full', () => {
    fc.assert(
      fc.property(restartArb, fc.array(fc.nat(30_000), { maxLength: 40 }), backoffArb, (p, runs, backoff) => {
        const { restarts, decisions } = simulate(p, runs, backoff);
        if (p.mode === 'delay') expect(decisions.every((d) => d.action === 'restart')).toBe(true);
        for (const d of decisions) {
          const inWindow = restartsInWindow(p, restarts.slice(0, d.earlier), d.now).length;
          if (p.mode === 'fail') expect(d.action === 'fail').toBe(inWindow >= p.attempts);
        }
      }),
    );
  });

  it('delays grow with the restarts in the window and are capped', () => {
    fc.assert(
      fc.property(restartArb, backoffArb, fc.integer({ min: 0, max: 30 }), (p, backoff, k) => {
        const d = backoffDelay(p, k, backoff);
        expect(d).toBeGreaterThanOrEqual(p.delay);
        expect(d).toBeLessThanOrEqual(Math.max(p.delay, backoff.capMs));
        expect(backoffDelay(p, k + 1, backoff)).toBeGreaterThanOrEqual(d);
      }),
    );
  });

  it('a restart decision never comes sooner than its backoff', () => {
    fc.assert(
      fc.property(
        restartArb,
        fc.array(fc.nat(100_000), { maxLength: 10 }),
        fc.nat(200_000),
        (p, history, extra) => {
          const now = Math.max(0, ...history) + extra;
          const decision = decideRestart(p, service, history, now, DEFAULT_BACKOFF);
          if (decision.action === 'restart') {
            expect(decision.at - now).toBeGreaterThanOrEqual(decision.delayMs);
            expect(decision.delayMs).toBe(backoffDelay(p, restartsInWindow(p, history, now).length));
          }
        },
      ),
    );
  });
});
