/** The finished-copy GC policy (finished-gc.ts): count per job, age and a total, with the time passed in. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_FINISHED_GC, finishedToCollect } from '../../../src/node/workloads/finished-gc.js';

const HOUR = 60 * 60_000;
const copy = (allocId: string, job: string, finishedAt: number) => ({ allocId, job, finishedAt });
const policy = { maxPerJob: 2, maxAgeMs: 10 * HOUR, maxTotal: 100 };

describe('finished-copy GC policy', () => {
  it('keeps the newest copies of each job up to the count and collects the older ones, oldest first', () => {
    const copies = [
      copy('a1', 'a', 1),
      copy('a3', 'a', 3),
      copy('b1', 'b', 1),
      copy('a2', 'a', 2),
      copy('a0', 'a', 0),
    ];
    expect(finishedToCollect(copies, 10, policy)).toEqual(['a0', 'a1']);
  });

  it('collects a copy once it is as old as the age limit, whatever the count', () => {
    const now = 100 * HOUR;
    const copies = [copy('old', 'a', now - 10 * HOUR), copy('young', 'a', now - 10 * HOUR + 1)];
    expect(finishedToCollect(copies, now, policy)).toEqual(['old']);
    expect(finishedToCollect(copies, now + 1, policy)).toEqual(['old', 'young']);
  });

  it('bounds the node as a whole, across jobs', () => {
    const copies = [copy('x', 'x', 1), copy('y', 'y', 2), copy('z', 'z', 3)];
    expect(finishedToCollect(copies, 5, { ...policy, maxTotal: 2 })).toEqual(['x']);
  });

  it('breaks ties in finish time by alloc id, so the choice does not depend on the order given', () => {
    const copies = [copy('b', 'j', 5), copy('a', 'j', 5), copy('c', 'j', 5)];
    const one = { ...policy, maxPerJob: 1 };
    expect(finishedToCollect(copies, 6, one)).toEqual(['c', 'b']);
    expect(finishedToCollect([...copies].reverse(), 6, one)).toEqual(['c', 'b']);
  });

  it('defaults to 10 copies per job for 24 hours, 256 in all', () => {
    expect(DEFAULT_FINISHED_GC).toEqual({ maxPerJob: 10, maxAgeMs: 24 * HOUR, maxTotal: 256 });
  });
});
