import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { VerdictTimers, verdictOf } from '../../../src/node/workloads/rollout-verdict.js';
import { shJobSpec } from '../../support/reconciler.js';

// Below the spec's minimums, which keep real rollouts from judging on noise.
const update = { ...shJobSpec({ script: 'true' }).update, minHealthyTime: 200, healthyDeadline: 400 };

async function until(probe: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

describe('rollout verdict timers', () => {
  it('passes a run that lasts minHealthyTime, from its first start, and not one broken before it', async () => {
    const timers = new VerdictTimers(update, Date.now(), Date.now);
    let passed = 0;
    timers.startHealthyRun(false, () => passed++);
    await sleep(50);
    timers.breakRun();
    await sleep(250);
    expect(passed).toBe(0);
    const began = Date.now();
    timers.startHealthyRun(false, () => passed++);
    await sleep(100);
    // A run already under way is not restarted by a second start.
    timers.startHealthyRun(false, () => passed++);
    await until(() => passed > 0);
    expect(Date.now() - began).toBeLessThan(300);
    await sleep(150);
    expect(passed).toBe(1);
    timers.clear();
  });

  it('misses the deadline counted from placement, once, and never once settled or judged', async () => {
    const timers = new VerdictTimers(update, Date.now() - 300, Date.now);
    const missed: string[] = [];
    const began = Date.now();
    timers.armDeadline(false, (reason) => missed.push(reason));
    timers.armDeadline(false, (reason) => missed.push(reason));
    await until(() => missed.length > 0);
    expect(Date.now() - began).toBeLessThan(300);
    expect(missed).toEqual(['not healthy within healthyDeadline (400 ms)']);

    const settled = new VerdictTimers(update, Date.now(), Date.now);
    settled.armDeadline(false, (reason) => missed.push(reason));
    settled.settle();
    settled.armDeadline(false, (reason) => missed.push(reason));
    new VerdictTimers(update, Date.now(), Date.now).armDeadline(true, (reason) => missed.push(reason));
    await sleep(500);
    expect(missed).toHaveLength(1);
  });

  it('cuts a verdict reason to what the status schema takes', () => {
    expect(verdictOf(false, 7, 'x'.repeat(2_000)).reason).toHaveLength(1_024);
    expect(verdictOf(true, 7, undefined)).toEqual({ healthy: true, at: 7 });
  });
});
