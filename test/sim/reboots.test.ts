import { expect, test } from 'vitest';
import type { RuntimeEvent } from '../../sim/driver/sim-runtime.js';
import { rebootOutcomes } from '../../sim/fault/reboots.js';

const workload = (allocId: string, owner: string) => ({
  allocId,
  job: allocId.split('.')[0] ?? '',
  jobVersion: 1,
  owner,
  startedAt: 0,
  launch: 0,
});
const start = (at: number, allocId: string, owner = 'peer-a'): RuntimeEvent => ({
  kind: 'start',
  at,
  workload: workload(allocId, owner),
});
const crashed = (at: number, allocId: string, owner = 'peer-a'): RuntimeEvent => ({
  kind: 'stop',
  at,
  workload: workload(allocId, owner),
  why: 'device-crash',
});
const nameOf = (peerId: string) => (peerId === 'peer-a' ? 'a' : 'b');
const steps = [
  { kind: 'isolate', node: 'a', at: 0 },
  { kind: 'crash', node: 'a', at: 1_000 },
  { kind: 'restart', node: 'a', at: 2_000 },
  { kind: 'rejoin', node: 'a', at: 9_000 },
];

test('times the return of the device’s own copies and lists what else it started while cut off', () => {
  const events = [
    crashed(1_000, 'web.0'),
    crashed(1_000, 'edge.1'),
    crashed(1_000, 'edge.2', 'peer-b'),
    start(2_300, 'web.0'),
    start(2_500, 'edge.1'),
    start(3_000, 'db.0'),
    start(3_000, 'db.1', 'peer-b'),
    start(9_500, 'db.2'),
  ];
  expect(rebootOutcomes(steps, events, nameOf, 4)).toEqual([
    { node: 'a', ownCopies: 2, ownBackS: 2, othersStartedWhileCutOff: ['db.0'] },
  ]);
});

test('an own copy that only comes back after the heal did not come back while cut off', () => {
  const events = [crashed(1_000, 'web.0'), start(9_100, 'web.0')];
  expect(rebootOutcomes(steps, events, nameOf, 1)[0]?.ownBackS).toBeNull();
});
