import fc from 'fast-check';
import { expect, test } from 'vitest';
import {
  deriveJob,
  type JobEvent,
  type KeyedEvent,
  keyed,
  nextVersion,
  prune,
} from '../../src/crdt/job-log.js';

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
  fc.record({ kind: fc.constant('promote' as const), ...base, version: fc.integer({ min: 1, max: 20 }) }),
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
      // Pruning forgets no promotion of the current version, and invents none.
      const promoted = view?.promoted ?? [];
      for (const v of pruned?.promoted ?? []) expect(promoted).toContain(v);
      if (view !== undefined && promoted.includes(view.current.version))
        expect(pruned?.promoted).toContain(view.current.version);
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

test('a promotion names a version: it never decides the desired status, and counts only for a version still there', () => {
  const v1 = keyed({ kind: 'submit', seq: 1, at: 10, by: 'a', version: 1, spec: '{"i":1}' });
  const v2 = keyed({ kind: 'submit', seq: 2, at: 20, by: 'a', version: 2, spec: '{"i":2}' });
  const stop = keyed({ kind: 'stop', seq: 3, at: 30, by: 'a' });
  const promote2 = keyed({ kind: 'promote', seq: 4, at: 40, by: 'b', version: 2 });
  const promote7 = keyed({ kind: 'promote', seq: 5, at: 50, by: 'b', version: 7 });
  const view = deriveJob('web', [v1, v2, stop, promote2, promote7])!;
  expect(view.desired).toBe('stopped');
  expect(view.desiredSince).toBe(30);
  expect(view.promoted).toEqual([2]);
  expect(deriveJob('web', [v1, v2])!.promoted).toBeUndefined();
  // A purge of version 2 takes its promotion with it; a resubmitted version 3 starts unpromoted.
  const purge = keyed({ kind: 'purge', seq: 6, at: 60, by: 'a', version: 2 });
  const v3 = keyed({ kind: 'submit', seq: 7, at: 70, by: 'a', version: 3, spec: '{"i":3}' });
  expect(deriveJob('web', [v1, v2, promote2, purge, v3])!.promoted).toBeUndefined();
  expect(prune([v1, v2, promote2, purge, v3]).map((e) => e.event.kind)).toEqual(['purge', 'submit']);
  // A stray promotion of a version never submitted moves no numbering.
  expect(nextVersion([v1, v2, promote7])).toBe(3);
});
