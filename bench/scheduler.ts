/**
 * Placement speed: 10,000 allocations over 1,000 nodes, on one core. Prints JSON.
 *   cold         nothing runs yet, every allocation is placed
 *   steady       everything runs, nothing changed: the recompute every agent does on any state change
 *   changedJob   one job has a new version (its 10 copies move)
 *   lostNode     one node is lost (its copies are replaced elsewhere)
 * Each figure is taken over several runs after a warm-up: the median, and the minimum, which is the better
 * estimate of one core's speed when other processes share the machine.
 */
import { loadavg } from 'node:os';
import { place } from '../src/scheduler/placement.js';
import type { Desired, LivenessEntry, SchedAllocation, SchedJob, SchedNode } from '../src/scheduler/types.js';

const NODES = 1000;
const JOBS = 1000;
const COUNT = 10;
const RUNS = 9;

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** Peer-id-shaped names (52 characters), generated without randomness so runs are comparable. */
function peerId(i: number): string {
  let x = (i + 1) * 2654435761;
  let s = '12D3KooW';
  while (s.length < 52) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    s += B58[x % 58];
  }
  return s;
}

function fleet(): SchedNode[] {
  return Array.from({ length: NODES }, (_, i) => ({
    peerId: peerId(i),
    name: `edge-${i}`,
    labels: { zone: ['north', 'south', 'east', 'west'][i % 4]!, tier: i % 10 === 0 ? 'gateway' : 'edge' },
    arch: i % 3 === 0 ? 'amd64' : 'arm64',
    os: 'linux',
    cpu: 4000,
    memory: 4096,
    reserved: { cpu: 200, memory: 256 },
    drivers: i % 5 === 0 ? ['exec'] : ['docker', 'exec'],
  }));
}

function jobs(): SchedJob[] {
  return Array.from(
    { length: JOBS },
    (_, i): SchedJob => ({
      name: `app-${i}`,
      version: 1,
      status: 'running',
      type: i % 10 === 9 ? 'batch' : 'service',
      count: COUNT,
      driver: i % 7 === 0 ? 'exec' : 'docker',
      resources: { cpu: 50 + (i % 6) * 25, memory: 64 + (i % 5) * 32 },
      constraints: i % 4 === 0 ? [{ attribute: 'arch', operator: '=', value: 'arm64' }] : [],
      affinities: i % 3 === 0 ? [{ attribute: 'label.zone', operator: '=', value: 'north', weight: 50 }] : [],
      scheduling: { algorithm: i % 2 === 0 ? 'binpack' : 'spread' },
      ports: i % 20 === 0 ? [{ host: 8000 + i }] : [],
    }),
  );
}

function started(d: Desired): SchedAllocation[] {
  return d.allocs.map((a) => ({
    allocId: a.allocId,
    job: a.job,
    jobVersion: a.jobVersion,
    node: a.node,
    state: 'running',
    health: 'healthy',
    startedAt: 0,
    restarts: 0,
  }));
}

const figures = ({ medianMs, minMs }: Timing) => ({ medianMs, minMs });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

interface Timing {
  readonly medianMs: number;
  readonly minMs: number;
  readonly result: Desired;
}

function time(f: () => Desired): Timing {
  let result = f();
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    result = f();
    samples.push(performance.now() - t0);
  }
  const round = (ms: number) => Math.round(ms * 100) / 100;
  return { medianMs: round(median(samples)), minMs: round(Math.min(...samples)), result };
}

const nodes = fleet();
const js = jobs();
const view = new Map<string, LivenessEntry>(nodes.map((n) => [n.peerId, { status: 'alive', lastSeen: 0 }]));

const cold = time(() => place(js, nodes, [], view, 0));
const placed = cold.result.allocs.length;
const actual = started(cold.result);
const steady = time(() => place(js, nodes, actual, view, 0));

const changed = js.map((j, i) => (i === 500 ? { ...j, version: 2 } : j));
const changedJob = time(() => place(changed, nodes, actual, view, 0));

const victim = actual[0]!.node;
const lostView = new Map(view).set(victim, { status: 'lost', lastSeen: -1 });
const lostNode = time(() => place(js, nodes, actual, lostView, 0));

const running = new Set(actual.map((a) => a.allocId));
const moved = (d: Desired) => d.allocs.filter((a) => a.status === 'run' && !running.has(a.allocId)).length;

console.log(
  JSON.stringify(
    {
      benchmark: 'scheduler',
      nodes: NODES,
      allocations: JOBS * COUNT,
      placed,
      unplaced: cold.result.unplaced.length,
      cold: figures(cold),
      coldPlacementsPerSecond: {
        median: Math.round(placed / (cold.medianMs / 1000)),
        best: Math.round(placed / (cold.minMs / 1000)),
      },
      steady: figures(steady),
      changedJob: { ...figures(changedJob), placed: moved(changedJob.result) },
      lostNode: { ...figures(lostNode), placed: moved(lostNode.result) },
      loadAverage1m: loadavg()[0],
      node: process.version,
    },
    null,
    2,
  ),
);
