import { Command, Option } from 'commander';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { registerAllocCommands } from '../../../src/cli/commands/alloc.js';
import type { MeshState } from '../../../src/crdt/mesh-state.js';
import { ControlApi } from '../../../src/node/api/control-api.js';
import { placementRoutes } from '../../../src/node/api/routes/placement-routes.js';
import type { PeerLiveness } from '../../../src/node/placement/placement-input.js';
import { PlacementService } from '../../../src/node/placement/placement-service.js';
import { allocId, type Plan } from '../../../src/scheduler/index.js';
import { nodeRecord, replica } from '../../crdt/replicas.js';

const NOW = 50_000;
const PEERS = ['a', 'b', 'c'];

const jobSpec = (name: string, count: number, extra: Record<string, unknown> = {}) => ({
  name,
  type: 'service',
  count,
  driver: 'docker',
  image: 'local/busybox:1',
  args: [],
  env: {},
  network: 'host',
  ports: [],
  resources: { cpu: 500, memory: 256 },
  constraints: [],
  affinities: [],
  scheduling: { algorithm: 'binpack' },
  restart: { attempts: 2, interval: 1_800_000, delay: 15_000, mode: 'fail' },
  update: { maxParallel: 1, canary: 0, minHealthyTime: 10_000, healthyDeadline: 300_000, autoRevert: false },
  disconnect: { lostAfter: 0, replace: true, reconcile: 'best_score' },
  ...extra,
});

/** Pins a job to this agent's node, whose copies the tests run. */
const onA = { constraints: [{ attribute: 'name', operator: '=', value: 'dev-a' }] };

/** One replica that already holds every node's record: the state an agent reads. */
function world(): { state: MeshState; liveness: PeerLiveness[]; writers: MeshState[] } {
  const writers = PEERS.map((p, i) => replica(p, i + 1));
  const state = replica('a', 7);
  for (const w of writers)
    for (const m of w.putNodeRecord(nodeRecord(w.self), 1))
      expect(state.applyGossip(m, 1).kind).toBe('applied');
  return {
    state,
    liveness: PEERS.slice(1).map((peerId) => ({ peerId, status: 'alive', lastSeen: NOW })),
    writers,
  };
}

function service(state: MeshState, liveness: PeerLiveness[], debounceMs?: number) {
  const readState = vi.fn(() => ({
    jobs: state.jobs(),
    nodes: state.nodes(),
    allocations: state.allocations(),
  }));
  const onError = vi.fn();
  const s = new PlacementService({
    self: 'a',
    readState,
    readLiveness: () => liveness,
    now: () => NOW,
    onError,
    ...(debounceMs === undefined ? {} : { debounceMs }),
  });
  return { service: s, readState, onError };
}

/** Node c reports a running copy of slot 0 of `edge`, version 1, into its own document, gossiped to `state`. */
function edgeRunningOnC(state: MeshState, writers: MeshState[]): void {
  const running = {
    allocId: allocId('edge', 1, 0, 0, 'c'),
    job: 'edge',
    jobVersion: 1,
    node: 'c',
    state: 'running',
    health: 'healthy',
    startedAt: 1,
    restarts: 0,
  } as const;
  for (const m of writers[2]!.putAllocStatus(running, 2)) state.applyGossip(m, 2);
}

/** Runs what a plan says as a node would: running copies reported into its own document. */
function apply(state: MeshState, plan: Plan): void {
  for (const a of plan.start)
    state.putAllocStatus(
      {
        allocId: a.allocId,
        job: a.job,
        jobVersion: a.jobVersion,
        node: a.node,
        state: 'running',
        health: 'healthy',
        startedAt: NOW,
        restarts: 0,
      },
      NOW,
    );
  for (const a of plan.stop) state.putAllocStatus({ ...a, state: 'complete' }, NOW);
}

describe('PlacementService: coalescing', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  test('a burst of 50 requests costs one placement, after the debounce', () => {
    const { state, liveness } = world();
    state.submitJob('web', jobSpec('web', 2), 'op', 1);
    const { service: s, readState } = service(state, liveness, 100);
    for (let i = 0; i < 50; i++) s.schedule();
    vi.advanceTimersByTime(99);
    expect(readState).not.toHaveBeenCalled();
    expect(s.desired()).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(readState).toHaveBeenCalledTimes(1);
    expect(s.desired()?.allocs).toHaveLength(2);
    vi.advanceTimersByTime(1_000);
    expect(readState).toHaveBeenCalledTimes(1);
    s.schedule();
    vi.advanceTimersByTime(100);
    expect(readState).toHaveBeenCalledTimes(2);
  });

  test('a steady trickle of requests cannot postpone placement', () => {
    const { state, liveness } = world();
    const { service: s, readState } = service(state, liveness, 100);
    for (let t = 0; t < 1_000; t += 10) {
      s.schedule();
      vi.advanceTimersByTime(10);
    }
    expect(readState).toHaveBeenCalledTimes(10);
  });

  test('with no change at all, placement runs again when a lostAfter runs out, and only then', () => {
    const { state, writers } = world();
    state.submitJob(
      'edge',
      jobSpec('edge', 1, { disconnect: { lostAfter: 60_000, replace: true, reconcile: 'best_score' } }),
      'op',
      1,
    );
    edgeRunningOnC(state, writers);
    // c went quiet 10 s ago: its copy is waited for 50 s more.
    const liveness: PeerLiveness[] = [
      { peerId: 'b', status: 'alive', lastSeen: Date.now() },
      { peerId: 'c', status: 'lost', lastSeen: Date.now() - 10_000 },
    ];
    const readState = vi.fn(() => ({
      jobs: state.jobs(),
      nodes: state.nodes(),
      allocations: state.allocations(),
    }));
    const s = new PlacementService({
      self: 'a',
      readState,
      readLiveness: () => liveness,
      now: Date.now,
      onError: (error) => {
        throw error;
      },
      debounceMs: 100,
    });
    s.placeNow();
    expect(s.desired()?.allocs.map((a) => [a.node, a.status])).toEqual([['c', 'unknown']]);
    vi.advanceTimersByTime(49_000);
    expect(readState).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1_000 + 1 + 100);
    expect(readState).toHaveBeenCalledTimes(2);
    expect(s.desired()?.allocs.find((a) => a.status === 'run')?.node).toMatch(/^[ab]$/);
    // Nothing waits on time any more: no further placements.
    vi.advanceTimersByTime(600_000);
    expect(readState).toHaveBeenCalledTimes(2);
    s.close();
  });

  test('the debounce is configurable and close cancels what is pending', () => {
    const { state, liveness } = world();
    const { service: s, readState } = service(state, liveness, 500);
    s.schedule();
    vi.advanceTimersByTime(400);
    expect(readState).not.toHaveBeenCalled();
    s.close();
    s.schedule();
    vi.advanceTimersByTime(10_000);
    expect(readState).not.toHaveBeenCalled();
  });

  test('a placement that throws is reported and the last good placement stays', () => {
    const { state, liveness } = world();
    state.submitJob('web', jobSpec('web', 1), 'op', 1);
    const { service: s, readState, onError } = service(state, liveness);
    s.placeNow();
    const before = s.desired();
    readState.mockImplementationOnce(() => {
      throw new Error('replica unavailable');
    });
    s.schedule();
    vi.advanceTimersByTime(100);
    expect(onError).toHaveBeenCalledWith(new Error('replica unavailable'));
    expect(s.desired()).toBe(before);
  });
});

describe('PlacementService: plans', () => {
  test('onPlan fires on the first plan and then only when start, stop or keep change', () => {
    const { state, liveness } = world();
    state.submitJob('web', jobSpec('web', 3), 'op', 1);
    const { service: s } = service(state, liveness);
    const plans: Plan[] = [];
    s.onPlan((p) => plans.push(p));
    s.placeNow();
    expect(plans).toHaveLength(1);
    const first = plans[0]!;
    expect(first.start.map((a) => a.node)).toEqual(['a']);
    expect(s.localPlan()).toBe(first);

    s.placeNow();
    expect(plans).toHaveLength(1);

    apply(state, first);
    s.placeNow();
    expect(plans).toHaveLength(2);
    expect(plans[1]).toMatchObject({ start: [], stop: [], keep: [{ allocId: first.start[0]!.allocId }] });

    // Another job lands elsewhere: scores of everything move, this node's work does not.
    state.submitJob(
      'api',
      jobSpec('api', 1, { constraints: [{ attribute: 'name', operator: '=', value: 'dev-b' }] }),
      'op',
      2,
    );
    s.placeNow();
    expect(s.desired()?.allocs.some((a) => a.job === 'api' && a.node === 'b')).toBe(true);
    expect(plans).toHaveLength(2);

    // This node doubles its declared cpu: the kept copy's score moves, what the node must do does not.
    const scoreBefore = s.desired()!.allocs.find((a) => a.node === 'a')!.score;
    state.putNodeRecord(nodeRecord('a', 8_000), 2);
    s.placeNow();
    expect(s.desired()!.allocs.find((a) => a.node === 'a')!.score).not.toBe(scoreBefore);
    expect(plans).toHaveLength(2);

    state.stopJob('web', 'op', 3);
    s.placeNow();
    expect(plans).toHaveLength(3);
    expect(plans[2]?.stop.map((a) => a.allocId)).toEqual([first.start[0]!.allocId]);
  });

  test('a new version of a spec is read afresh, and a spec that turns unreadable is reported', () => {
    const { state, liveness } = world();
    state.submitJob('web', jobSpec('web', 1), 'op', 1);
    const { service: s } = service(state, liveness);
    s.placeNow();
    expect(s.explain('web')).toMatchObject({ version: 1, count: 1 });
    state.submitJob('web', jobSpec('web', 3), 'op', 2);
    s.placeNow();
    expect(s.explain('web')).toMatchObject({ version: 2, count: 3 });
    expect(s.desired()?.allocs).toHaveLength(3);
    state.submitJob('web', jobSpec('web', 3, { count: 'three' }), 'op', 3);
    s.placeNow();
    expect(s.explain('web')).toMatchObject({ version: 3, status: 'unreadable' });
    expect(s.desired()?.allocs).toEqual([]);
  });

  test('a listener that throws does not keep the others from the plan', () => {
    const { state, liveness } = world();
    state.submitJob('web', jobSpec('web', 1), 'op', 1);
    const { service: s, onError } = service(state, liveness);
    const seen = vi.fn();
    s.onPlan(() => {
      throw new Error('reconciler broke');
    });
    const off = s.onPlan(seen);
    s.placeNow();
    expect(onError).toHaveBeenCalledWith(new Error('reconciler broke'));
    expect(seen).toHaveBeenCalledTimes(1);
    off();
    state.stopJob('web', 'op', 2);
    s.placeNow();
    expect(seen).toHaveBeenCalledTimes(1);
  });

  test('explain names where copies go and, per dimension, why slots stay empty', () => {
    const { state } = world();
    // Each node has 3900 millicores after its reserve: two copies of 2000 never share one.
    state.submitJob('big', jobSpec('big', 4, { resources: { cpu: 2_000, memory: 64 } }), 'op', 1);
    state.submitJob(
      'arm',
      jobSpec('arm', 1, { constraints: [{ attribute: 'arch', operator: '=', value: 'riscv' }] }),
      'op',
      1,
    );
    const { service: s } = service(state, [
      { peerId: 'b', status: 'alive', lastSeen: NOW },
      { peerId: 'c', status: 'lost', lastSeen: 1 },
    ]);
    s.placeNow();
    const big = s.explain('big')!;
    expect(big).toMatchObject({ job: 'big', version: 1, status: 'running', count: 4, computedAt: NOW });
    expect(big.allocs.map((a) => [a.slot, a.nodeName, a.status]).sort()).toEqual([
      [0, expect.any(String), 'run'],
      [1, expect.any(String), 'run'],
    ]);
    expect(new Set(big.allocs.map((a) => a.node))).toEqual(new Set(['a', 'b']));
    expect(big.unplaced.map((u) => u.slot)).toEqual([2, 3]);
    expect(big.unplaced[0]).toMatchObject({ nodesEvaluated: 3, nodesIneligible: 1, exhausted: { cpu: 2 } });
    expect(big.unplaced[0]?.reasons).toEqual([
      '3 nodes evaluated',
      '1 node not eligible (not alive in this view)',
      'cpu exhausted on 2 nodes',
    ]);
    const arm = s.explain('arm')!;
    expect(arm.unplaced[0]?.reasons).toEqual([
      '3 nodes evaluated',
      '1 node not eligible (not alive in this view)',
      '2 nodes filtered: arch = riscv',
    ]);
    expect(s.explain('nope')).toBeUndefined();
  });

  test('an unreadable job is explained as such, and a purged one while its copies stop', () => {
    const { state, liveness } = world();
    state.submitJob('bad', { ...jobSpec('bad', 1), driver: 'wasm' }, 'op', 1);
    state.submitJob('web', jobSpec('web', 1, onA), 'op', 1);
    const { service: s } = service(state, liveness);
    s.placeNow();
    expect(s.skipped().map((j) => j.job)).toEqual(['bad']);
    expect(s.explain('bad')).toMatchObject({
      status: 'unreadable',
      version: 1,
      unreadable: expect.stringContaining('driver'),
    });
    apply(state, s.localPlan()!);
    state.purgeJob('web', 'op', 2);
    s.placeNow();
    expect(s.explain('web')).toMatchObject({
      status: 'gone',
      allocs: [],
      stops: [{ node: 'a', nodeName: 'dev-a', reason: 'orphaned' }],
    });
  });
});

describe('placement routes and meshctl alloc list', () => {
  const log = pino({ level: 'silent' });
  let api: ControlApi | undefined;
  afterEach(async () => {
    await api?.close();
    vi.restoreAllMocks();
  });

  async function serve(s: PlacementService, state: MeshState): Promise<string> {
    api = new ControlApi(placementRoutes(s, { state: { state } }), log);
    const { port } = await api.listen('127.0.0.1:0', false);
    return `http://127.0.0.1:${port}`;
  }

  async function meshctl(base: string, ...args: string[]): Promise<string> {
    const program = new Command('meshctl')
      .addOption(new Option('--api <url>').default(base))
      .addOption(new Option('-o, --output <format>').choices(['table', 'json', 'yaml']).default('table'))
      .exitOverride();
    registerAllocCommands(program);
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out += String(chunk);
      return true;
    });
    try {
      await program.parseAsync(['node', 'meshctl', ...args]);
    } finally {
      vi.mocked(process.stdout.write).mockRestore();
    }
    return out;
  }

  test('rows for run, unknown and stop, filtered by job; errors that say what is wrong', async () => {
    const { state, writers } = world();
    state.submitJob('web', jobSpec('web', 1, onA), 'op', 1);
    state.submitJob('api', jobSpec('api', 1, onA), 'op', 1);
    // A copy on c, which this agent lost touch with 10 s ago: it waits out the job's lostAfter as `unknown`.
    const edge = { constraints: [{ attribute: 'name', operator: '=', value: 'dev-c' }] };
    state.submitJob(
      'edge',
      jobSpec('edge', 1, {
        ...edge,
        disconnect: { lostAfter: 3_600_000, replace: true, reconcile: 'best_score' },
      }),
      'op',
      1,
    );
    edgeRunningOnC(state, writers);
    const { service: s } = service(state, [
      { peerId: 'b', status: 'alive', lastSeen: NOW },
      { peerId: 'c', status: 'lost', lastSeen: NOW - 10_000 },
    ]);
    const base = await serve(s, state);
    const before = await fetch(`${base}/v1/allocs`);
    expect(before.status).toBe(503);

    s.placeNow();
    apply(state, s.localPlan()!);
    state.stopJob('api', 'op', 2);
    s.placeNow();
    const rows = (await (await fetch(`${base}/v1/allocs`)).json()) as {
      job: string;
      desired: string;
      reason?: string;
      jobVersion: number;
    }[];
    expect(rows.map((r) => [r.job, r.desired, r.reason ?? null, r.jobVersion])).toEqual([
      ['api', 'stop', 'job-stopped', 1],
      ['edge', 'unknown', null, 1],
      ['web', 'run', null, 1],
    ]);
    const web = (await (await fetch(`${base}/v1/allocs?job=web`)).json()) as { job: string }[];
    expect(web.map((r) => r.job)).toEqual(['web']);
    expect((await fetch(`${base}/v1/allocs?job=nope`)).status).toBe(404);
    expect((await fetch(`${base}/v1/allocs?job=Not_A_Name`)).status).toBe(400);
    expect(await (await fetch(`${base}/v1/placement/web`)).json()).toMatchObject({
      job: 'web',
      status: 'running',
      count: 1,
    });
    const missing = await fetch(`${base}/v1/placement/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toMatch(/no job "nope"/);

    const table = await meshctl(base, 'alloc', 'list');
    const lines = table.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ALLOC ID\s+JOB\s+VERSION\s+NODE\s+DESIRED\s+STATUS$/);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/^api\.0\.0\.\S+\s+api\s+1\s+dev-a\s+stop \(job-stopped\)\s+running$/);
    // Aligned: each column starts where its header does.
    const header = lines[0]!;
    expect(lines[1]!.indexOf(' api ') + 1).toBe(header.indexOf('JOB'));
    expect(lines[2]).toMatch(/^edge\.0\.0\.\S+\s+edge\s+1\s+dev-c\s+unknown\s+running$/);
    expect(lines[3]!.indexOf(' web ') + 1).toBe(header.indexOf('JOB'));
    expect(lines[3]!.indexOf(' run') + 1).toBe(header.indexOf('DESIRED'));
    const json = JSON.parse(await meshctl(base, '-o', 'json', 'alloc', 'list', '--job', 'web')) as {
      job: string;
    }[];
    expect(json.map((r) => r.job)).toEqual(['web']);
    expect(await meshctl(base, '-o', 'yaml', 'alloc', 'list', '--job', 'web')).toMatch(
      /^- allocId: web\.0\.0\./,
    );
    await expect(meshctl(base, 'alloc', 'list', '--job', 'nope')).rejects.toThrow(/no job "nope"/);

    // A copy that ended and is no longer placed stays listed, with how it ended.
    const api = state.allocations().find((a) => a.job === 'api')!;
    state.putAllocStatus({ ...api, state: 'complete', exitCode: 0, finishedAt: NOW }, NOW);
    s.placeNow();
    const after = (await meshctl(base, 'alloc', 'list', '--job', 'api')).trimEnd().split('\n');
    expect(after[1]).toMatch(/^api\.0\.0\.\S+\s+api\s+1\s+dev-a\s+-\s+complete \(exit 0\)$/);
    const rows2 = JSON.parse(await meshctl(base, '-o', 'json', 'alloc', 'list', '--job', 'api')) as unknown[];
    expect(rows2).toEqual([expect.objectContaining({ desired: 'finished', state: 'complete', exitCode: 0 })]);
  });
});
