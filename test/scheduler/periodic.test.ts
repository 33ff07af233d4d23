import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseAllocId } from '../../src/scheduler/alloc-id.js';
import { deriveJobStatus } from '../../src/scheduler/job-status.js';
import { runIdSlot } from '../../src/scheduler/periodic-runs.js';
import { place } from '../../src/scheduler/placement.js';
import { plan } from '../../src/scheduler/plan.js';
import type { LivenessEntry, SchedAllocation, SchedJob, SchedNode } from '../../src/scheduler/types.js';
import { alive, job, node } from './fixtures.js';

const EVERY_5S = '*/5 * * * * *';
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);

const periodic = (over: Partial<SchedJob> = {}, schedule = EVERY_5S, prohibitOverlap = true): SchedJob =>
  job('tick', {
    type: 'periodic',
    periodic: { schedule, timeZone: 'UTC', prohibitOverlap, since: T0 - 1 },
    ...over,
  });

interface Agent {
  readonly self: string;
  /** This agent's clock offset from true time. */
  readonly skew: number;
  readonly hears: readonly string[];
}

/**
 * A fleet of agents sharing one replicated state (or, per group, one per partition side): each one places with
 * its own clock and view and starts what its plan starts on itself; a copy runs `runMs` and then completes.
 */
class Fleet {
  readonly launched: SchedAllocation[] = [];
  readonly records = new Map<string, SchedAllocation>();

  constructor(
    readonly nodes: SchedNode[],
    readonly agents: Agent[],
    readonly runMs = 1_000,
  ) {}

  tick(jobs: readonly SchedJob[], at: number, states: Map<string, SchedAllocation>[] = [this.records]): void {
    for (const a of this.agents) {
      const state = states.find((s) => [...s.values()].some((r) => r.node === a.self)) ?? states[0]!;
      const now = at + a.skew;
      for (const [id, r] of state)
        if (r.node === a.self && r.state === 'running' && now - r.startedAt >= this.runMs)
          state.set(id, { ...r, state: 'complete' });
      const liveness = new Map<string, LivenessEntry>(
        this.nodes.map((n) => [
          n.peerId,
          { status: a.hears.includes(n.peerId) ? 'alive' : 'lost', lastSeen: 0 },
        ]),
      );
      const desired = place(jobs, this.nodes, [...state.values()], liveness, now);
      const local = [...state.values()].filter((r) => r.node === a.self);
      const p = plan(desired, local, a.self);
      for (const s of p.start) {
        const record: SchedAllocation = {
          allocId: s.allocId,
          job: s.job,
          jobVersion: s.jobVersion,
          node: a.self,
          state: 'running',
          health: 'healthy',
          startedAt: now,
          restarts: 0,
        };
        state.set(s.allocId, record);
        this.launched.push(record);
      }
      for (const s of p.stop) state.set(s.allocId, { ...s, state: 'complete' });
    }
  }

  /** Launches per run, by the run's scheduled second. */
  perRun(): Map<number, string[]> {
    const out = new Map<number, string[]>();
    for (const r of this.launched) {
      const slot = parseAllocId(r.allocId)!.slot;
      out.set(slot, [...(out.get(slot) ?? []), r.node]);
    }
    return out;
  }
}

const three = () => [node('a'), node('b'), node('c')];
const everyone = (skews = [0, 0, 0]) =>
  ['a', 'b', 'c'].map((self, i) => ({ self, skew: skews[i]!, hears: ['a', 'b', 'c'] }));

describe('type: periodic', () => {
  test('three agents, each on its own clock, launch every run exactly once', () => {
    // Clocks up to 400 ms apart: an agent ahead places the run first, only the chosen device starts it.
    const fleet = new Fleet(three(), everyone([0, 400, -300]));
    for (let t = T0; t <= T0 + 60_000; t += 100) fleet.tick([periodic()], t);
    const runs = fleet.perRun();
    expect([...runs.keys()].sort((x, y) => x - y)).toEqual(
      Array.from({ length: 13 }, (_, i) => runIdSlot(T0 + i * 5_000)),
    );
    for (const [slot, nodes] of runs) expect(nodes, `run ${slot}`).toHaveLength(1);
  });

  test('property: whatever the clock skews, evaluation times and run lengths, no run launches twice', () => {
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: -2_000, max: 2_000 }), fc.integer({ min: -2_000, max: 2_000 })),
        fc.constantFrom(100, 250, 700, 1_300),
        fc.constantFrom(500, 3_000, 6_000),
        fc.boolean(),
        ([s1, s2], step, runMs, prohibitOverlap) => {
          const fleet = new Fleet(three(), everyone([0, s1, s2]), runMs);
          const spec = periodic({}, EVERY_5S, prohibitOverlap);
          for (let t = T0; t <= T0 + 40_000; t += step) fleet.tick([spec], t);
          const runs = fleet.perRun();
          for (const [run, nodes] of runs) expect(nodes, `run ${run}`).toHaveLength(1);
          // Every launch is one of the scheduled runs (0, 5, ..., 40 s), so at most nine in all.
          for (const run of runs.keys()) expect(run % 5, `run ${run}`).toBe(0);
          expect(fleet.launched.length).toBeLessThanOrEqual(9);
          // Runs that end well within the period never hold the next one back: none is skipped.
          if (!prohibitOverlap || runMs + step < 5_000) expect(runs.size).toBeGreaterThanOrEqual(8);
        },
      ),
      { numRuns: 40 },
    );
  });

  test('runs missed while the whole fleet was down: only the latest launches', () => {
    const fleet = new Fleet(three(), everyone());
    fleet.tick([periodic()], T0 + 62_000);
    fleet.tick([periodic()], T0 + 62_500);
    expect([...fleet.perRun().keys()]).toEqual([runIdSlot(T0 + 60_000)]);
  });

  test('runs due before the version was submitted do not launch', () => {
    const fleet = new Fleet(three(), everyone());
    const submitted = periodic({
      periodic: { schedule: EVERY_5S, timeZone: 'UTC', prohibitOverlap: true, since: T0 + 12_000 },
    });
    for (let t = T0 + 12_000; t < T0 + 16_000; t += 500) fleet.tick([submitted], t);
    expect([...fleet.perRun().keys()]).toEqual([runIdSlot(T0 + 15_000)]);
  });

  test('prohibitOverlap: a run waits for the previous one, and one that cannot start before the next is skipped', () => {
    // Each run takes 7 s on a 5 s schedule.
    const strict = new Fleet(three(), everyone(), 7_000);
    for (let t = T0; t <= T0 + 30_000; t += 100) strict.tick([periodic()], t);
    const starts = strict.launched.map((r) => r.startedAt - T0);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(7_000);
    // The 0 s run ends at 7: the 5 s run launches then, late; it ends at 14, when the 10 s run is the latest due,
    // so that one launches and the 15 s run, due while it runs, is skipped for good.
    expect(starts).toEqual([0, 7_000, 14_000, 21_000, 28_000]);
    expect(strict.perRun().has(runIdSlot(T0 + 15_000))).toBe(false);
    const loose = new Fleet(three(), everyone(), 7_000);
    for (let t = T0; t <= T0 + 30_000; t += 100) loose.tick([periodic({}, EVERY_5S, false)], t);
    expect(loose.launched.map((r) => r.startedAt - T0)).toEqual([
      0, 5_000, 10_000, 15_000, 20_000, 25_000, 30_000,
    ]);
  });

  test('a completed run is not run again when a new version is submitted; later runs use it', () => {
    const fleet = new Fleet(three(), everyone());
    for (let t = T0; t < T0 + 3_000; t += 500) fleet.tick([periodic()], t);
    const v2 = periodic({ version: 2 });
    for (let t = T0 + 3_000; t <= T0 + 6_000; t += 500) fleet.tick([v2], t);
    expect(fleet.launched.map((r) => [r.startedAt - T0, r.jobVersion])).toEqual([
      [0, 1],
      [5_000, 2],
    ]);
  });

  test('a job that was a service and is now periodic stops its service copies and launches its runs', () => {
    const fleet = new Fleet(three(), everyone(), 60_000);
    const service = job('tick', { count: 2 });
    fleet.tick([service], T0 - 2_000);
    expect(fleet.launched.map((r) => parseAllocId(r.allocId)!.slot).sort()).toEqual([0, 1]);
    const { history: _, ...v1 } = service;
    const v2 = periodic({ version: 2, history: [v1] });
    fleet.tick([v2], T0);
    // The service copies stop (they are no earlier runs to wait for), and the 0 s run launches at once.
    const live = [...fleet.records.values()].filter((r) => r.state === 'running');
    expect(live.map((r) => [r.jobVersion, parseAllocId(r.allocId)!.slot])).toEqual([[2, runIdSlot(T0)]]);
  });

  test('partition 2+1: the side cut off alone launches nothing; the pair launches every run once', () => {
    const fleet = new Fleet(three(), [
      { self: 'a', skew: 0, hears: ['a', 'b'] },
      { self: 'b', skew: 0, hears: ['a', 'b'] },
      { self: 'c', skew: 0, hears: ['c'] },
    ]);
    const pair = new Map<string, SchedAllocation>();
    const alone = new Map<string, SchedAllocation>();
    pair.set('marker-a', marker('a'));
    pair.set('marker-b', marker('b'));
    alone.set('marker-c', marker('c'));
    for (let t = T0; t <= T0 + 20_000; t += 250) fleet.tick([periodic()], t, [pair, alone]);
    const runs = fleet.perRun();
    expect(runs.size).toBe(5);
    for (const nodes of runs.values()) {
      expect(nodes).toHaveLength(1);
      expect(['a', 'b']).toContain(nodes[0]);
    }
    // Asked to, the lone side launches too (two-device sites): then each run launches once per side.
    const eager = new Fleet(three(), fleet.agents);
    const both = [
      new Map([
        ['marker-a', marker('a')],
        ['marker-b', marker('b')],
      ]),
      new Map([['marker-c', marker('c')]]),
    ];
    const replace = periodic({
      disconnect: { lostAfter: 0, replace: true, reconcile: 'best_score', whenIsolated: 'replace' },
    });
    for (let t = T0; t <= T0 + 10_000; t += 250) eager.tick([replace], t, both);
    expect(eager.perRun().size).toBe(3);
    for (const nodes of eager.perRun().values()) {
      expect(nodes).toHaveLength(2);
      expect(nodes).toContain('c');
    }
  });

  test('partition heals with both sides having launched: a live run keeps one copy, a finished one ran twice, nothing relaunches', () => {
    const nodes = [node('a'), node('b'), node('c'), node('d')];
    const side = (peers: string[], at: number, records: SchedAllocation[]) =>
      place([periodic()], nodes, records, alive(peers), at);
    // 2+2: each side places the run among its own nodes.
    const left = side(['a', 'b'], T0 + 100, []).allocs.filter((x) => x.status === 'run');
    const right = side(['c', 'd'], T0 + 100, []).allocs.filter((x) => x.status === 'run');
    expect(left).toHaveLength(1);
    expect(right).toHaveLength(1);
    expect(left[0]!.node).not.toBe(right[0]!.node);
    const rec = (a: (typeof left)[number], state: SchedAllocation['state']): SchedAllocation => ({
      allocId: a.allocId,
      job: a.job,
      jobVersion: a.jobVersion,
      node: a.node,
      state,
      health: 'healthy',
      startedAt: T0 + 100,
      restarts: 0,
    });
    const all = ['a', 'b', 'c', 'd'];
    // Healed while both still run: one copy survives, the other stops as a duplicate.
    const live = place(
      [periodic()],
      nodes,
      [rec(left[0]!, 'running'), rec(right[0]!, 'running')],
      alive(all),
      T0 + 500,
    );
    expect(live.allocs.filter((x) => x.status === 'run')).toHaveLength(1);
    expect(live.stops.map((s) => s.reason)).toEqual(['duplicate']);
    // Healed after both finished: the run ran on both sides; nothing launches again until the next run.
    const done = place(
      [periodic()],
      nodes,
      [rec(left[0]!, 'complete'), rec(right[0]!, 'complete')],
      alive(all),
      T0 + 2_000,
    );
    expect(done.allocs).toEqual([]);
    expect(done.stops).toEqual([]);
    expect(done.runs).toEqual([{ job: 'tick', at: T0, idSlot: runIdSlot(T0), next: T0 + 5_000 }]);
    expect(done.revisitAt).toBe(T0 + 5_000);
  });

  test('job status follows the current run: running it, then waiting for the next', () => {
    const fleet = new Fleet(three(), everyone(), 1_000);
    const status = (at: number) => {
      const d = place([periodic()], fleet.nodes, [...fleet.records.values()], alive(['a', 'b', 'c']), at);
      return deriveJobStatus('tick', {
        desired: 'running',
        type: 'periodic',
        version: 1,
        count: 1,
        allocations: [...fleet.records.values()],
        unplaced: [],
        run: d.runs?.[0],
      });
    };
    fleet.tick([periodic()], T0 + 5_100);
    expect(status(T0 + 5_200)).toMatchObject({ status: 'running', copies: { wanted: 1, running: 1 } });
    fleet.tick([periodic()], T0 + 6_500);
    expect(status(T0 + 6_600)).toMatchObject({
      status: 'running',
      reason: 'run 2026-01-01T00:00:05Z complete; next run 2026-01-01T00:00:10Z',
    });
    // The next run is due and not reported yet: its one slot is starting, not the last run's completion.
    expect(status(T0 + 10_050)).toMatchObject({ status: 'pending', copies: { complete: 0, starting: 1 } });
  });

  test('a schedule in a time zone launches at local time', () => {
    const berlin = job('nightly', {
      type: 'periodic',
      periodic: { schedule: '0 2 * * *', timeZone: 'Europe/Berlin', prohibitOverlap: true, since: 0 },
    });
    // 02:00 in Berlin in January is 01:00 UTC.
    const d = place([berlin], three(), [], alive(['a', 'b', 'c']), Date.UTC(2026, 0, 2, 1, 0, 30));
    expect(d.runs?.[0]).toMatchObject({ at: Date.UTC(2026, 0, 2, 1), next: Date.UTC(2026, 0, 3, 1) });
    expect(d.allocs).toHaveLength(1);
  });
});

/** A finished copy of another job, so that a partition side's state names the node it runs on. */
function marker(peer: string): SchedAllocation {
  return {
    allocId: `other.0.0.0000000${'abc'.indexOf(peer)}`,
    job: 'other',
    jobVersion: 1,
    node: peer,
    state: 'complete',
    health: 'healthy',
    startedAt: 0,
    restarts: 0,
  };
}

describe('prohibitOverlap and a device not heard', () => {
  test('a run still going on a lost device holds no later run back; on a heard one it does', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const spec = periodic();
    const at0 = place([spec], nodes, [], alive(['a', 'b', 'c']), T0);
    const first = at0.allocs.find((d) => d.status === 'run')!;
    const running: SchedAllocation = {
      allocId: first.allocId,
      job: spec.name,
      jobVersion: 1,
      node: first.node,
      state: 'running',
      health: 'healthy',
      startedAt: T0,
      restarts: 0,
    };
    const others = ['a', 'b', 'c'].filter((n) => n !== first.node);
    const next = runIdSlot(T0 + 5_000);
    const launches = (view: Map<string, LivenessEntry>) =>
      place([spec], nodes, [running], view, T0 + 5_000).allocs.filter(
        (d) => d.status === 'run' && parseAllocId(d.allocId)!.slot === next,
      );
    // Heard: the 5 s run waits for the 0 s one.
    expect(launches(alive(['a', 'b', 'c'], T0 + 5_000))).toEqual([]);
    // Its device lost: nobody here could see it end, so the 5 s run launches on a device that is heard.
    const lost = new Map<string, LivenessEntry>([
      ...alive(others, T0 + 5_000),
      [first.node, { status: 'lost', lastSeen: T0 }],
    ]);
    const launched = launches(lost);
    expect(launched).toHaveLength(1);
    expect(others).toContain(launched[0]!.node);
  });
});
