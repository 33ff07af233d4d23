import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseAllocId } from '../../src/scheduler/alloc-id.js';
import { hostPorts } from '../../src/scheduler/capacity.js';
import { staticFilter } from '../../src/scheduler/feasibility.js';
import { place } from '../../src/scheduler/placement.js';
import { plan } from '../../src/scheduler/plan.js';
import { rescheduleDecision, reschedulePolicy } from '../../src/scheduler/reschedule.js';
import type { Desired, LivenessEntry, SchedAllocation } from '../../src/scheduler/types.js';
import { node } from './fixtures.js';
import { shuffle, type World, worldArb } from './world.js';

const run = (w: World, over: Partial<World> = {}) => {
  const x = { ...w, ...over };
  return place(x.jobs, x.nodes, x.actual, x.liveness, x.now);
};

const LIVE = ['pending', 'starting', 'running'];

/** Copies the placement keeps where they already run. */
function keptRunning(w: World, d: Desired): Map<string, string> {
  const live = new Set(w.actual.filter((a) => LIVE.includes(a.state)).map((a) => a.allocId));
  return new Map(
    d.allocs.filter((a) => a.status === 'run' && live.has(a.allocId)).map((a) => [a.allocId, a.node]),
  );
}

const slotOf = (allocId: string) => {
  const key = parseAllocId(allocId);
  return key === undefined ? allocId : `${key.job}.${key.slot}`;
};

/**
 * Copies whose place another node's loss is promised not to change (README, Stability). Not promised for a
 * copy whose slot has a live copy on a node this view already cannot hear: it may only stand in for that
 * copy, and when another node is lost its slots' heard duplicates become stand-ins too, with the same claim
 * on capacity (lose x then y, or y then x: the same final view cannot keep both). Nor, when `gone` is
 * deregistered, on a node that shares a slot with it: without the record its copies cannot be scored, so
 * which of that slot's copies was the rightful one can no longer be told.
 */
function promisedStable(
  w: World,
  gone: string,
  deregistered: boolean,
): (allocId: string, at: string) => boolean {
  const heard = (peer: string) => ['alive', 'suspect'].includes(w.liveness.get(peer)?.status ?? 'absent');
  const live = w.actual.filter((a) => LIVE.includes(a.state));
  const besideUnheard = new Set(live.filter((a) => !heard(a.node)).map((a) => slotOf(a.allocId)));
  const withGone = new Set(live.filter((a) => a.node === gone).map((a) => slotOf(a.allocId)));
  const sharesWithGone = new Set(live.filter((a) => withGone.has(slotOf(a.allocId))).map((a) => a.node));
  return (allocId, at) => !besideUnheard.has(slotOf(allocId)) && !(deregistered && sharesWithGone.has(at));
}

describe('place', () => {
  test('any arrival order of the same inputs gives byte-identical output', () => {
    fc.assert(
      fc.property(worldArb, fc.nat(), fc.boolean(), (w, seed, asRecord) => {
        const entries = shuffle([...w.liveness], seed);
        const liveness = asRecord ? Object.fromEntries(entries) : new Map(entries);
        const shuffled = place(
          shuffle(w.jobs, seed + 1),
          shuffle(w.nodes, seed + 2),
          shuffle(w.actual, seed + 3),
          liveness,
          w.now,
        );
        expect(JSON.stringify(shuffled)).toBe(JSON.stringify(run(w)));
      }),
    );
  });

  test('declared cpu, memory and host ports of a node are never over-committed', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const d = run(w);
        for (const n of w.nodes) {
          // Outgoing copies (a rollout's surge) hold their resources too.
          const mine = d.allocs.filter((a) => a.node === n.peerId && a.status !== 'unknown');
          const jobs = mine.map((a) => w.jobs.find((j) => j.name === a.job)!);
          expect(jobs.reduce((s, j) => s + j.resources.cpu, 0)).toBeLessThanOrEqual(n.cpu - n.reserved.cpu);
          expect(jobs.reduce((s, j) => s + j.resources.memory, 0)).toBeLessThanOrEqual(
            n.memory - n.reserved.memory,
          );
          const ports = jobs.flatMap(hostPorts);
          expect(new Set(ports).size).toBe(ports.length);
        }
      }),
    );
  });

  test('constraints and drivers hold, and new work goes only to nodes heard as alive', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const d = run(w);
        const known = new Set(w.actual.map((a) => a.allocId));
        for (const a of d.allocs.filter((x) => x.status === 'run')) {
          const n = w.nodes.find((x) => x.peerId === a.node)!;
          expect(staticFilter(w.jobs.find((j) => j.name === a.job)!, n)).toBeUndefined();
          if (!known.has(a.allocId)) expect(w.liveness.get(a.node)?.status).toBe('alive');
        }
      }),
    );
  });

  test('every slot has one running copy, a copy left running on an unheard node, or a reason', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const d = run(w);
        for (const j of w.jobs) {
          for (let slot = 0; slot < j.count; slot++) {
            const copies = d.allocs.filter((a) => a.job === j.name && a.slot === slot);
            const running = copies.filter((a) => a.status === 'run').length;
            const unplaced = d.unplaced.filter((u) => u.job === j.name && u.slot === slot).length;
            expect(running).toBeLessThanOrEqual(1);
            // At most one outgoing copy per slot, of another version than the slot's running copy.
            const outgoing = copies.filter((a) => a.status === 'outgoing');
            expect(outgoing.length).toBeLessThanOrEqual(1);
            for (const o of outgoing)
              expect(copies.some((a) => a.status === 'run' && a.jobVersion === o.jobVersion)).toBe(false);
            expect(running + unplaced).toBeLessThanOrEqual(1);
            if (running + unplaced === 0) {
              const finished = w.actual.some(
                (a) =>
                  a.job === j.name && a.state === 'complete' && a.allocId.startsWith(`${j.name}.${slot}.`),
              );
              // A slot whose copies failed waits before its next copy, or has none left to try.
              const slotCopies = w.actual.filter(
                (a) => a.job === j.name && a.allocId.startsWith(`${j.name}.${slot}.`),
              );
              const held =
                rescheduleDecision(slotCopies, j.version, reschedulePolicy(j), w.now).kind !== 'place';
              expect(
                copies.some((a) => a.status === 'unknown') || (j.type === 'batch' && finished) || held,
              ).toBe(true);
            }
          }
          expect(d.allocs.filter((a) => a.job === j.name && a.slot >= j.count)).toEqual([]);
        }
        for (const u of d.unplaced) {
          const f = u.failure;
          const sum = (r: Readonly<Record<string, number>>) => Object.values(r).reduce((s, n) => s + n, 0);
          expect(f.nodesEvaluated).toBe(w.nodes.length);
          expect(f.nodesIneligible + sum(f.filtered) + sum(f.exhausted)).toBe(w.nodes.length);
        }
      }),
    );
  });

  test('count is met whenever capacity allows', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const roomy = w.nodes.map((n) => ({
          ...n,
          cpu: 1e6,
          memory: 1e6,
          drivers: ['docker', 'exec'] as const,
        }));
        const jobs = w.jobs.map((j) => ({ ...j, constraints: [], ports: [] }));
        const liveness = new Map([
          ...w.liveness,
          [w.nodes[0]!.peerId, { status: 'alive', lastSeen: 0 } as const],
        ]);
        expect(place(jobs, roomy, w.actual, liveness, w.now).unplaced).toEqual([]);
      }),
    );
  });

  test('a node joining moves nothing that runs', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const before = keptRunning(w, run(w));
        const joined = node('peer-new', { cpu: 64_000, memory: 64_000 });
        const after = run(w, {
          nodes: [...w.nodes, joined],
          liveness: new Map([...w.liveness, [joined.peerId, { status: 'alive', lastSeen: w.now }]]),
        });
        const afterRunning = new Map(
          after.allocs.filter((a) => a.status === 'run').map((a) => [a.allocId, a.node]),
        );
        for (const [id, at] of before) expect(afterRunning.get(id)).toBe(at);
      }),
    );
  });

  test('a node lost moves only the copies it ran', () => {
    fc.assert(
      fc.property(
        worldArb,
        fc.nat(),
        fc.constantFrom('lost', 'forgotten', 'deregistered'),
        (w, pick, how) => {
          const gone = w.nodes[pick % w.nodes.length]!.peerId;
          const before = run(w);
          const liveness = new Map<string, LivenessEntry>(w.liveness);
          if (how === 'lost') liveness.set(gone, { status: 'lost', lastSeen: -1e9 });
          else liveness.delete(gone);
          const nodes = how === 'deregistered' ? w.nodes.filter((n) => n.peerId !== gone) : w.nodes;
          const after = run(w, { liveness, nodes });
          const afterRunning = new Map(
            after.allocs.filter((a) => a.status === 'run').map((a) => [a.allocId, a.node]),
          );
          const promised = promisedStable(w, gone, how === 'deregistered');
          for (const [id, at] of keptRunning(w, before))
            if (at !== gone && promised(id, at)) expect(afterRunning.get(id)).toBe(at);
          for (const a of after.allocs) if (a.node === gone) expect(a.status).toBe('unknown');
        },
      ),
    );
  });
});

describe('plan', () => {
  test('never stops what is desired here, and planning after applying a plan keeps everything', () => {
    fc.assert(
      fc.property(worldArb, fc.nat(), (w, pick) => {
        const self = w.nodes[pick % w.nodes.length]!.peerId;
        const d = run(w);
        const local = w.actual.filter((a) => a.node === self);
        const p = plan(d, local, self);
        const desiredHere = new Set(d.allocs.filter((a) => a.node === self).map((a) => a.allocId));
        for (const s of p.stop) expect(desiredHere.has(s.allocId)).toBe(false);
        for (const s of [...p.start, ...p.keep]) expect(s.node).toBe(self);

        const stopped = new Set(p.stop.map((s) => s.allocId));
        const applied: SchedAllocation[] = [
          ...local.filter((a) => !stopped.has(a.allocId)),
          ...p.start.map((a) => ({
            ...a,
            state: 'pending' as const,
            health: 'unknown' as const,
            startedAt: 0,
            restarts: 0,
          })),
        ];
        const again = plan(d, applied, self);
        expect(again.start).toEqual([]);
        expect(again.stop).toEqual([]);
        expect(again.keep.map((a) => a.allocId).sort()).toEqual(
          [...p.keep, ...p.start].map((a) => a.allocId).sort(),
        );
      }),
    );
  });
});
