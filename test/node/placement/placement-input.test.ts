import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { canonicalJson } from '../../../src/crdt/canonical-json.js';
import type { GossipMessage, MeshState } from '../../../src/crdt/mesh-state.js';
import {
  type PeerLiveness,
  type PlacementInput,
  placementInput,
} from '../../../src/node/placement/placement-input.js';
import { allocId, place } from '../../../src/scheduler/index.js';
import { alloc, nodeRecord, replica } from '../../crdt/replicas.js';

const NOW = 100_000;
const WEB_0 = allocId('web', 1, 0, 0, 'a');

const inputOf = (state: MeshState, liveness: readonly PeerLiveness[] = [], self = state.self, now = NOW) =>
  placementInput(
    { jobs: state.jobs(), nodes: state.nodes(), allocations: state.allocations() },
    liveness,
    self,
    now,
  );

/** Plain data, Map included, so equal inputs give equal text. */
const text = (input: PlacementInput) => canonicalJson({ ...input, liveness: [...input.liveness] });

const webSpec = (count: number, extra: Record<string, unknown> = {}) => ({
  name: 'web',
  type: 'service',
  count,
  driver: 'docker',
  image: 'local/web:1',
  args: [],
  env: {},
  network: 'host',
  ports: [],
  resources: { cpu: 200, memory: 128 },
  constraints: [],
  affinities: [],
  scheduling: { algorithm: 'spread' },
  restart: { attempts: 2, interval: 1_800_000, delay: 15_000, mode: 'fail' },
  update: { maxParallel: 1, canary: 0, minHealthyTime: 10_000, healthyDeadline: 300_000, autoRevert: false },
  disconnect: { lostAfter: 30_000, replace: true, reconcile: 'keep_original' },
  ...extra,
});

/** Delivers in the given order, retrying what arrived before its dependencies until nothing more applies. */
function deliverAll(state: MeshState, messages: readonly GossipMessage[]): void {
  let pending = [...messages];
  while (pending.length > 0) {
    const next = pending.filter((m) => state.applyGossip(m, NOW).kind === 'missing-deps');
    if (next.length === pending.length) throw new Error('gossip cannot be applied');
    pending = next;
  }
}

describe('placementInput', () => {
  test('a drained node is marked drained for the scheduler; others carry no mark', () => {
    const state = replica('a');
    state.putNodeRecord(nodeRecord('a', 4000), 1);
    const views = { jobs: state.jobs(), nodes: state.nodes(), allocations: state.allocations() };
    const [free] = placementInput(views, [], 'a', NOW).nodes;
    const [drained] = placementInput({ ...views, drained: new Set(['a']) }, [], 'a', NOW).nodes;
    expect(drained).toEqual({ ...free, drained: true });
    expect(free).not.toHaveProperty('drained');
  });

  test('maps a stored JobSpec to the scheduler job with the fields placement reads', () => {
    const state = replica('a');
    state.submitJob('web', webSpec(3), 'op', 1);
    const [job] = inputOf(state).jobs;
    expect(job).toEqual({
      name: 'web',
      version: 1,
      status: 'running',
      type: 'service',
      count: 3,
      driver: 'docker',
      resources: { cpu: 200, memory: 128 },
      constraints: [],
      affinities: [],
      scheduling: { algorithm: 'spread' },
      ports: [],
      disconnect: { lostAfter: 30_000, replace: true, reconcile: 'keep_original' },
      update: { maxParallel: 1, canary: 0, autoRevert: false },
      history: [],
    });
  });

  test('earlier versions come along for autoRevert, one per number, newest first', () => {
    const state = replica('a');
    state.submitJob('web', webSpec(3), 'op', 1);
    state.submitJob('web', webSpec(2), 'op', 2);
    state.submitJob('web', webSpec(1), 'op', 3);
    const [job] = inputOf(state).jobs;
    expect(job?.version).toBe(3);
    expect(job?.history?.map((v) => [v.version, v.count])).toEqual([
      [2, 2],
      [1, 3],
    ]);
  });

  test('a stopped job maps as stopped, and its running copies are stopped by placement', () => {
    const state = replica('a');
    state.putNodeRecord(nodeRecord('a'), 1);
    state.submitJob('web', webSpec(1), 'op', 1);
    state.putAllocStatus(alloc('a', WEB_0, 'running'), 2);
    state.stopJob('web', 'op', 3);
    const input = inputOf(state);
    expect(input.jobs.map((j) => [j.name, j.status])).toEqual([['web', 'stopped']]);
    const desired = place(input.jobs, input.nodes, input.allocations, input.liveness, NOW);
    expect(desired.stops).toEqual([{ allocId: WEB_0, job: 'web', node: 'a', reason: 'job-stopped' }]);
  });

  test('a purged job is absent, and its copies are kept in the input so placement stops them as orphans', () => {
    const state = replica('a');
    state.putNodeRecord(nodeRecord('a'), 1);
    state.submitJob('web', webSpec(1), 'op', 1);
    state.putAllocStatus(alloc('a', WEB_0, 'running'), 2);
    state.purgeJob('web', 'op', 3);
    const input = inputOf(state);
    expect(input.jobs).toEqual([]);
    expect(input.allocations.map((a) => a.allocId)).toEqual([WEB_0]);
    const desired = place(input.jobs, input.nodes, input.allocations, input.liveness, NOW);
    expect(desired.stops.map((s) => s.reason)).toEqual(['orphaned']);
  });

  test('a job whose spec does not parse is skipped and reported, and its copies are left alone', () => {
    const state = replica('a');
    state.putNodeRecord(nodeRecord('a'), 1);
    state.submitJob('web', webSpec(1, { count: -1 }), 'op', 1);
    state.submitJob('api', { ...webSpec(1), name: 'other' }, 'op', 1);
    state.submitJob('db', { ...webSpec(1), name: 'db' }, 'op', 1);
    state.putAllocStatus(alloc('a', 'web.0.0.abc', 'running'), 2);
    const input = inputOf(state);
    expect(input.jobs.map((j) => j.name)).toEqual(['db']);
    expect(input.skipped.map((s) => [s.job, s.version])).toEqual([
      ['api', 1],
      ['web', 1],
    ]);
    expect(input.skipped[0]?.reason).toContain('"other"');
    expect(input.skipped[1]?.reason).toMatch(/^count: /);
    expect(input.allocations).toEqual([]);
  });

  test('the local node is alive whatever the liveness view says, and stamped with now', () => {
    const liveness: PeerLiveness[] = [
      { peerId: 'b', status: 'suspect', lastSeen: 5 },
      { peerId: 'a', status: 'lost', lastSeen: 1 },
    ];
    const input = inputOf(replica('a'), liveness, 'a', 777);
    expect([...input.liveness]).toEqual([
      ['a', { status: 'alive', lastSeen: 777 }],
      ['b', { status: 'suspect', lastSeen: 5 }],
    ]);
  });

  test('an isolated agent still places on itself: it counts as alive', () => {
    const state = replica('a');
    state.putNodeRecord(nodeRecord('a'), 1);
    state.submitJob('web', webSpec(1), 'op', 1);
    const input = inputOf(state);
    const desired = place(input.jobs, input.nodes, input.allocations, input.liveness, NOW);
    expect(desired.allocs.map((a) => [a.node, a.status])).toEqual([['a', 'run']]);
  });

  test('replicas fed the same writes in any order, with liveness in any order, give the same input', () => {
    const writers = ['a', 'b', 'c'].map((peer, i) => replica(peer, i + 1));
    const messages: GossipMessage[] = [];
    let t = 1;
    for (const w of writers) messages.push(...w.putNodeRecord(nodeRecord(w.self, 2000 + t * 100), t++));
    messages.push(...writers[0]!.submitJob('web', webSpec(2), 'op-a', t++).publish);
    messages.push(...writers[1]!.submitJob('api', { ...webSpec(1), name: 'api' }, 'op-b', t++).publish);
    // Three writers submit web without seeing each other: three version 1s, the latest wins everywhere.
    messages.push(...writers[2]!.submitJob('web', webSpec(3), 'op-c', t++).publish);
    messages.push(...writers[1]!.submitJob('web', webSpec(4), 'op-b', t++).publish);
    messages.push(...writers[1]!.stopJob('api', 'op-b', t++).publish);
    messages.push(...writers[0]!.putAllocStatus(alloc('a', 'web.0.0.aaa', 'running'), t++));
    messages.push(...writers[1]!.putAllocStatus(alloc('b', 'web.1.0.bbb', 'running'), t++));
    messages.push(...writers[1]!.putAllocStatus(alloc('b', 'web.1.0.bbb', 'failed', 1), t++));
    messages.push(...writers[2]!.putAllocStatus(alloc('c', 'api.0.0.ccc', 'running'), t++));
    const liveness: PeerLiveness[] = [
      { peerId: 'a', status: 'alive', lastSeen: NOW - 1 },
      { peerId: 'b', status: 'suspect', lastSeen: NOW - 6_000 },
      { peerId: 'c', status: 'lost', lastSeen: NOW - 20_000 },
    ];

    const reference = replica('z', 9);
    deliverAll(reference, messages);
    const expected = text(inputOf(reference, liveness, 'z'));
    expect(expected).toContain('web.1.0.bbb');

    fc.assert(
      fc.property(
        fc.shuffledSubarray(messages, { minLength: messages.length }),
        fc.shuffledSubarray(liveness, { minLength: liveness.length }),
        fc.integer({ min: 10, max: 99 }),
        (order, peers, seed) => {
          const fresh = replica('z', seed);
          deliverAll(fresh, order);
          expect(text(inputOf(fresh, peers, 'z'))).toBe(expected);
        },
      ),
      { numRuns: 40 },
    );
  });
});
