/** fast-check arbitraries for whole scheduler worlds: nodes, jobs, liveness and a history of placements. */
import fc from 'fast-check';
import { place } from '../../src/scheduler/placement.js';
import type {
  AllocState,
  LivenessEntry,
  ReconcileMode,
  SchedAllocation,
  SchedConstraint,
  SchedJob,
  SchedNode,
} from '../../src/scheduler/types.js';
import { merge, node } from './fixtures.js';

export interface World {
  readonly nodes: SchedNode[];
  readonly jobs: SchedJob[];
  readonly liveness: Map<string, LivenessEntry>;
  readonly actual: SchedAllocation[];
  readonly now: number;
}

const CONSTRAINTS: SchedConstraint[] = [
  { attribute: 'arch', operator: '=', value: 'arm64' },
  { attribute: 'label.zone', operator: '!=', value: 'south' },
  { attribute: 'arch', operator: 'in', value: ['amd64'] },
  { attribute: 'driver', operator: '=', value: 'exec' },
];

const nodeArb = (peerId: string) =>
  fc
    .record({
      cpu: fc.constantFrom(1000, 2000, 4000),
      memory: fc.constantFrom(512, 1024, 4096),
      reservedCpu: fc.constantFrom(0, 100),
      arch: fc.constantFrom('amd64', 'arm64'),
      zone: fc.constantFrom('north', 'south', undefined),
      drivers: fc.constantFrom<SchedNode['drivers']>(['docker'], ['exec'], ['docker', 'exec']),
    })
    .map(
      (n): SchedNode =>
        node(peerId, {
          cpu: n.cpu,
          memory: n.memory,
          reserved: { cpu: n.reservedCpu, memory: 64 },
          arch: n.arch,
          labels: n.zone === undefined ? {} : { zone: n.zone },
          drivers: n.drivers,
        }),
    );

const jobArb = (name: string) =>
  fc
    .record({
      version: fc.integer({ min: 1, max: 3 }),
      type: fc.constantFrom<SchedJob['type']>('service', 'service', 'batch'),
      count: fc.integer({ min: 0, max: 6 }),
      driver: fc.constantFrom<SchedJob['driver']>('docker', 'exec'),
      cpu: fc.integer({ min: 50, max: 1500 }),
      memory: fc.integer({ min: 32, max: 1024 }),
      constraints: fc.subarray(CONSTRAINTS, { maxLength: 2 }),
      affinity: fc.option(
        fc.integer({ min: -100, max: 100 }).filter((w) => w !== 0),
        { nil: undefined },
      ),
      algorithm: fc.constantFrom<'binpack' | 'spread'>('binpack', 'spread'),
      port: fc.option(fc.constantFrom(80, 8080), { nil: undefined }),
      lostAfter: fc.constantFrom(0, 50, 200),
      replace: fc.boolean(),
      reconcile: fc.constantFrom<ReconcileMode>(
        'best_score',
        'keep_original',
        'keep_replacement',
        'longest_running',
      ),
    })
    .map(
      (j): SchedJob => ({
        name,
        version: j.version,
        status: 'running',
        type: j.type,
        count: j.count,
        driver: j.driver,
        resources: { cpu: j.cpu, memory: j.memory },
        constraints: j.constraints,
        affinities:
          j.affinity === undefined
            ? undefined
            : [{ attribute: 'label.zone', operator: '=', value: 'north', weight: j.affinity }],
        scheduling: { algorithm: j.algorithm },
        ports: j.port === undefined ? undefined : [{ host: j.port }],
        disconnect: { lostAfter: j.lostAfter, replace: j.replace, reconcile: j.reconcile },
      }),
    );

const livenessArb = fc.record({
  status: fc.constantFrom<LivenessEntry['status'] | 'absent'>(
    'alive',
    'alive',
    'alive',
    'alive',
    'suspect',
    'lost',
    'absent',
  ),
  lastSeen: fc.integer({ min: 0, max: 100 }),
});

const STATES: AllocState[] = [
  'running',
  'running',
  'running',
  'pending',
  'starting',
  'failed',
  'complete',
  'lost',
];

export function toLiveness(ids: readonly string[], entries: readonly { status: string; lastSeen: number }[]) {
  const view = new Map<string, LivenessEntry>();
  ids.forEach((id, i) => {
    const e = entries[i]!;
    if (e.status !== 'absent')
      view.set(id, { status: e.status as LivenessEntry['status'], lastSeen: e.lastSeen });
  });
  return view;
}

/**
 * The history: two earlier placements computed under different views (as two sides of a partition would),
 * their copies started at different times and left in random states, so worlds hold duplicates, failures
 * and copies of older versions.
 */
export const worldArb: fc.Arbitrary<World> = fc
  .tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 5 }))
  .chain(([nodeCount, jobCount]) => {
    const ids = Array.from({ length: nodeCount }, (_, i) => `peer-${(i * 7919) % 1000}`);
    return fc.record({
      nodes: fc.tuple(...ids.map(nodeArb)),
      jobs: fc.tuple(...Array.from({ length: jobCount }, (_, i) => jobArb(`job-${i}`))),
      liveness: fc.array(livenessArb, { minLength: nodeCount, maxLength: nodeCount }),
      before: fc.array(livenessArb, { minLength: nodeCount, maxLength: nodeCount }),
      states: fc.array(fc.constantFrom(...STATES), { minLength: 64, maxLength: 64 }),
      keep: fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
      now: fc.integer({ min: 0, max: 400 }),
    });
  })
  .map(({ nodes, jobs, liveness, before, states, keep, now }) => {
    const ids = nodes.map((n) => n.peerId);
    const older = jobs.map((j) => ({ ...j, version: Math.max(1, j.version - 1) }));
    const first = place(older, nodes, [], toLiveness(ids, before), 0);
    const second = place(
      jobs,
      nodes,
      [],
      toLiveness(
        ids,
        before.map((b) => ({ ...b, status: 'alive' })),
      ),
      0,
    );
    let i = 0;
    const history = [...first.allocs, ...second.allocs]
      .map((a): SchedAllocation => {
        const k = i++ % 64;
        return {
          allocId: a.allocId,
          job: a.job,
          jobVersion: a.jobVersion,
          node: a.node,
          state: states[k]!,
          health: 'healthy',
          startedAt: k,
          restarts: 0,
        };
      })
      .filter((_, k) => keep[k % 64]);
    return { nodes, jobs, liveness: toLiveness(ids, liveness), actual: merge(history), now };
  });

/** A deterministic shuffle, so a failing case replays. */
export function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
