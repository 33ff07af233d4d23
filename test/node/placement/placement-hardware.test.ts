/** From replicated node records and stored specs to placement: devices and host paths decide where a job runs. */
import { describe, expect, test } from 'vitest';
import type { MeshState } from '../../../src/crdt/mesh-state.js';
import { type PeerLiveness, placementInput } from '../../../src/node/placement/placement-input.js';
import { place } from '../../../src/scheduler/index.js';
import { nodeRecord, replica } from '../../crdt/replicas.js';

const NOW = 100_000;

const sensorSpec = (extra: Record<string, unknown>) => ({
  name: 'sensor',
  type: 'service',
  count: 1,
  driver: 'docker',
  image: 'local/sensor:1',
  args: [],
  env: {},
  network: 'host',
  ports: [],
  resources: { cpu: 100, memory: 64 },
  constraints: [],
  affinities: [],
  scheduling: { algorithm: 'binpack' },
  restart: { attempts: 2, interval: 1_800_000, delay: 15_000, mode: 'fail' },
  update: { maxParallel: 1, canary: 0, minHealthyTime: 10_000, healthyDeadline: 300_000, autoRevert: false },
  disconnect: { lostAfter: 30_000, replace: true, reconcile: 'best_score' },
  ...extra,
});

/** Node records as every replica would hold them; each agent writes only its own, so they are given here. */
const NODES = [
  nodeRecord('a'),
  { ...nodeRecord('b'), devices: ['/dev/ttyUSB0'], hostPaths: ['/var/lib'] },
  nodeRecord('c'),
];

const fleet = (): MeshState => replica('a');

function placed(state: MeshState) {
  const liveness: PeerLiveness[] = ['a', 'b', 'c'].map((peerId) => ({
    peerId,
    status: 'alive',
    lastSeen: NOW,
  }));
  const views = { jobs: state.jobs(), nodes: NODES, allocations: state.allocations() };
  const input = placementInput(views, liveness, 'a', NOW);
  return { input, desired: place(input.jobs, input.nodes, input.allocations, input.liveness, NOW) };
}

describe('placement on devices and host paths', () => {
  test('a job with a device runs only where the record lists it', () => {
    const state = fleet();
    state.submitJob('sensor', sensorSpec({ count: 1, devices: ['/dev/ttyUSB0:/dev/serial'] }), 'op', 2);
    const { input, desired } = placed(state);
    expect(input.jobs[0]).toMatchObject({ devices: ['/dev/ttyUSB0'] });
    expect(desired.allocs.filter((a) => a.status === 'run').map((a) => a.node)).toEqual(['b']);
  });

  test('a job asking for a device no node has is unplaced, with that reason', () => {
    const state = fleet();
    state.submitJob('sensor', sensorSpec({ devices: ['/dev/video7'] }), 'op', 2);
    const { desired } = placed(state);
    expect(desired.allocs.filter((a) => a.status === 'run')).toEqual([]);
    expect(desired.unplaced[0]?.failure.filtered).toEqual({ 'missing device /dev/video7': 3 });
  });

  test('a host path runs only where the operator allows it, else unplaced with that reason', () => {
    const state = fleet();
    state.submitJob(
      'sensor',
      sensorSpec({ volumes: [{ source: '/var/lib/sensor', target: '/data' }] }),
      'op',
      2,
    );
    expect(placed(state).desired.allocs.map((a) => a.node)).toEqual(['b']);
    state.submitJob('sensor', sensorSpec({ volumes: [{ source: '/etc', target: '/data' }] }), 'op', 3);
    const { desired } = placed(state);
    expect(desired.allocs.filter((a) => a.status === 'run' && a.jobVersion === 2)).toEqual([]);
    expect(desired.unplaced[0]?.failure.filtered).toEqual({ 'host path /etc not allowed': 3 });
  });

  test('a named volume and no device place as any job does', () => {
    const state = fleet();
    state.submitJob(
      'sensor',
      sensorSpec({ count: 3, volumes: [{ name: 'state', target: '/state' }] }),
      'op',
      2,
    );
    const { input, desired } = placed(state);
    expect(input.jobs[0]).not.toHaveProperty('devices');
    expect(input.jobs[0]).not.toHaveProperty('hostPaths');
    expect(desired.allocs.filter((a) => a.status === 'run')).toHaveLength(3);
    expect(desired.unplaced).toEqual([]);
  });
});
