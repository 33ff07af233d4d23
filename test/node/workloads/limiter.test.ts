import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Limiter } from '../../../src/node/workloads/limiter.js';

describe('limiter', () => {
  it('runs at most max calls at once, the rest in the order they came, and frees a slot on failure', async () => {
    const limiter = new Limiter(2);
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    const call = (i: number, fail = false) =>
      limiter.run(async () => {
        active++;
        peak = Math.max(peak, active);
        order.push(i);
        await sleep(20);
        active--;
        if (fail) throw new Error(`call ${i} failed`);
        return i;
      });
    const results = await Promise.allSettled([call(0, true), call(1), call(2), call(3, true), call(4)]);
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(results.map((r) => r.status)).toEqual([
      'rejected',
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect(await call(5)).toBe(5);
  });
});
