import { describe, expect, test } from 'vitest';
import { canonicalJson } from '../../src/crdt/canonical-json.js';
import { deliver, replica, spec, syncPair, view } from './replicas.js';

/** What `submitJob` would add for `image`, planned but not written. */
function planned(state: ReturnType<typeof replica>, image: string, now: number) {
  const plan = state.planSubmit('web', spec(image), 'op', now);
  if (!plan.event) throw new Error('nothing to submit');
  return plan.event;
}

describe('staged job writes (applied only once stored)', () => {
  test('staging leaves the replica, its dirty set and what sync sends untouched', () => {
    const a = replica('a');
    const b = replica('b');
    deliver(a.submitJob('web', spec('img:1'), 'op', 1000).publish, [b]);
    a.drainDirty();
    const before = canonicalJson(view(a) as never);

    const staged = a.stageJobEvent('web', planned(a, 'img:2', 2000), 2000);
    expect(staged).toBeDefined();
    expect(canonicalJson(view(a) as never)).toBe(before);
    expect(a.drainDirty()).toEqual([]);
    syncPair(a, b);
    expect(b.job('web')?.current.version).toBe(1);

    expect(a.applyStaged(staged!)).toEqual(staged!.publish);
    expect(a.job('web')?.current.version).toBe(2);
    expect(a.drainDirty()).toEqual([staged!.docId]);
    deliver(staged!.publish, [b]);
    expect(view(b)).toEqual(view(a));
  });

  test('a new job stages too, and an event already present stages nothing', () => {
    const a = replica('a');
    const event = planned(a, 'img:1', 1000);
    const staged = a.stageJobEvent('web', event, 1000);
    expect(a.job('web')).toBeUndefined();
    a.applyStaged(staged!);
    expect(a.job('web')?.current.version).toBe(1);
    expect(a.stageJobEvent('web', event, 1000)).toBeUndefined();
  });

  test('changes that arrive while a write is being stored are merged with it, not lost', () => {
    const a = replica('a');
    const b = replica('b');
    deliver(a.submitJob('web', spec('img:1'), 'op', 1000).publish, [b]);
    const staged = a.stageJobEvent('web', a.planStatus('web', 'stop', 'op', 2000).event!, 2000);
    // Meanwhile b updates the job and a hears of it.
    deliver(b.submitJob('web', spec('img:2'), 'op', 1500).publish, [a]);
    const publish = a.applyStaged(staged!);
    expect(publish).toBeDefined();
    deliver(publish!, [b]);
    expect(a.job('web')).toMatchObject({ desired: 'stopped', current: { version: 2 } });
    expect(view(b)).toEqual(view(a));
  });
});
