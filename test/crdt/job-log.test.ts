import fc from 'fast-check';
import { expect, test } from 'vitest';
import { deriveJob, type JobEvent, type KeyedEvent, keyed, prune } from '../../src/crdt/job-log.js';

const base = {
  seq: fc.integer({ min: 1, max: 30 }),
  at: fc.integer({ min: 0, max: 50 }),
  by: fc.constantFrom('a', 'b'),
};
const event: fc.Arbitrary<JobEvent> = fc.oneof(
  fc.record({
    kind: fc.constant('submit' as const),
    ...base,
    version: fc.integer({ min: 1, max: 20 }),
    spec: fc.integer({ min: 0, max: 5 }).map((n) => JSON.stringify({ image: `img:${n}` })),
  }),
  fc.record({ kind: fc.constantFrom('start' as const, 'stop' as const), ...base }),
  fc.record({ kind: fc.constant('purge' as const), ...base, version: fc.integer({ min: 0, max: 20 }) }),
);
const events = fc.uniqueArray(event.map(keyed), { selector: (e) => e.key, maxLength: 40 });
const keys = (list: readonly KeyedEvent[]) => new Set(list.map((e) => e.key));

test('derived state does not depend on the order events arrived in, and pruning keeps it', () => {
  fc.assert(
    fc.property(events, fc.nat(3), (list, keep) => {
      const view = deriveJob('web', list);
      expect(deriveJob('web', [...list].reverse())).toEqual(view);
      const kept = prune(list, keep + 1);
      const pruned = deriveJob('web', kept);
      expect(pruned?.current).toEqual(view?.current);
      expect(pruned?.desired).toEqual(view?.desired);
    }),
  );
});

test('events pruned from a set stay pruned from any union a replica re-adds into', () => {
  fc.assert(
    fc.property(events, events, fc.nat(3), (compacted, concurrent, keep) => {
      const kept = prune(compacted, keep + 1);
      const dropped = compacted.filter((e) => !keys(kept).has(e.key));
      const union = [...kept, ...concurrent.filter((e) => !keys(kept).has(e.key)), ...dropped];
      const survivors = keys(prune(union, keep + 1));
      for (const e of dropped) expect(survivors.has(e.key)).toBe(false);
    }),
  );
});

test('the newest submission is current; a later stop decides the status', () => {
  const v1 = keyed({ kind: 'submit', seq: 1, at: 10, by: 'a', version: 1, spec: '{"i":1}' });
  const v2a = keyed({ kind: 'submit', seq: 2, at: 20, by: 'a', version: 2, spec: '{"i":2}' });
  const v2b = keyed({ kind: 'submit', seq: 2, at: 30, by: 'b', version: 2, spec: '{"i":3}' });
  const stop = keyed({ kind: 'stop', seq: 3, at: 25, by: 'a' });
  const view = deriveJob('web', [v1, v2a, v2b, stop])!;
  expect(view.current.spec).toEqual({ i: 3 });
  expect(view.history.map((v) => v.spec)).toEqual([{ i: 3 }, { i: 2 }, { i: 1 }]);
  expect(view.desired).toBe('stopped');
});
