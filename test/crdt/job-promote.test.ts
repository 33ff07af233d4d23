/** A promotion (`meshctl job promote`) in the replicated job log of a closed mesh. */
import { beforeAll, expect, test } from 'vitest';
import { signJobEvent } from '../../src/crdt/job-auth.js';
import type { MeshState } from '../../src/crdt/mesh-state.js';
import { type TestKey, testKey } from '../support/keys.js';
import { deliver, replica, spec } from './replicas.js';

let operator: TestKey;
let stranger: TestKey;
let nodeA: TestKey;
let nodeB: TestKey;
beforeAll(async () => {
  [operator, stranger, nodeA, nodeB] = await Promise.all([testKey(), testKey(), testKey(), testKey()]);
});

const closed = (node: TestKey) => replica(node.id, 1, { sign: node.sign, operators: [operator.id] });

function signed(state: MeshState, name: string, kind: 'submit' | 'promote', by: TestKey, now: number) {
  const plan =
    kind === 'submit'
      ? state.planSubmit(name, spec(`img:${now}`), by.id, now)
      : state.planStatus(name, kind, by.id, now);
  if (!plan.event) throw new Error(`nothing to ${kind}`);
  return signJobEvent(name, plan.event, by.id, by.sign);
}

test('a signed promotion of the current version counts on every replica; planning it again gives nothing', () => {
  const a = closed(nodeA);
  const b = closed(nodeB);
  for (const [kind, at] of [
    ['submit', 1000],
    ['submit', 2000],
    ['promote', 3000],
  ] as const)
    deliver(a.commitJobEvent('web', signed(a, 'web', kind, operator, at), at).publish, [b]);
  expect(b.job('web')).toMatchObject({ desired: 'running', current: { version: 2 }, promoted: [2] });
  expect(b.planStatus('web', 'promote', operator.id, 4000)).toEqual({ outcome: 'unchanged' });
  // A new version is not promoted by its predecessor's promotion.
  deliver(a.commitJobEvent('web', signed(a, 'web', 'submit', operator, 5000), 5000).publish, [b]);
  expect(b.job('web')).toMatchObject({ current: { version: 3 }, promoted: [2] });
  expect(b.planStatus('web', 'promote', operator.id, 6000)).toMatchObject({
    outcome: 'changed',
    event: { kind: 'promote', version: 3 },
  });
});

test('an unsigned or stranger-signed promotion never counts', () => {
  const a = closed(nodeA);
  const hostile = replica(stranger.id); // writes without any check, as a modified agent would
  const b = closed(nodeB);
  deliver(a.commitJobEvent('web', signed(a, 'web', 'submit', operator, 1000), 1000).publish, [b, hostile]);
  deliver(
    hostile.commitJobEvent('web', hostile.planStatus('web', 'promote', stranger.id, 2000).event!, 2000)
      .publish,
    [b],
  );
  expect(b.job('web')?.promoted).toBeUndefined();
  expect(b.jobRejection('web')?.reason).toBe('not signed by an operator');
  expect(() => a.commitJobEvent('web', signed(a, 'web', 'promote', stranger, 3000), 3000)).toThrow(
    /not a trusted operator/,
  );
});
