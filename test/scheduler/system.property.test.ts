import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { staticFilter } from '../../src/scheduler/feasibility.js';
import { place } from '../../src/scheduler/placement.js';
import type { LivenessEntry, SchedAllocation, SchedJob, SchedNode } from '../../src/scheduler/types.js';
import { job, merge, node, started } from './fixtures.js';
import { shuffle } from './world.js';

const nodeArb = (peerId: string) =>
  fc
    .record({
      arch: fc.constantFrom('amd64', 'arm64'),
      drivers: fc.constantFrom<SchedNode['drivers']>(['docker'], ['exec'], ['docker', 'exec']),
      status: fc.constantFrom<LivenessEntry['status']>('alive', 'alive', 'alive', 'suspect', 'lost'),
    })
    .map(({ status, ...n }) => ({ node: node(peerId, n), status }));

const worldArb = fc.record({
  nodes: fc
    .uniqueArray(fc.stringMatching(/^[a-h]$/), { minLength: 1, maxLength: 8 })
    .chain((ids) => fc.tuple(...ids.map(nodeArb))),
  arm: fc.boolean(),
  // The nodes that leave (lost) or join, in order: indexes into the node list.
  leaving: fc.array(fc.nat(7), { maxLength: 3 }),
  joining: fc.uniqueArray(fc.stringMatching(/^[i-l]$/), { maxLength: 3 }),
});

const systemJob = (arm: boolean): SchedJob =>
  job('agent', {
    type: 'system',
    count: 0,
    driver: 'docker',
    constraints: arm ? [{ attribute: 'arch', operator: '=', value: 'arm64' }] : [],
  });

describe('type: system (property)', () => {
  test('one copy per eligible heard node, none elsewhere, and no copy moves as nodes leave and join', () => {
    fc.assert(
      fc.property(worldArb, ({ nodes: entries, arm, leaving, joining }) => {
        const spec = systemJob(arm);
        let nodes = entries.map((e) => e.node);
        const liveness = new Map<string, LivenessEntry>(
          entries.map((e) => [e.node.peerId, { status: e.status, lastSeen: 0 }]),
        );
        let actual: SchedAllocation[] = [];
        let now = 0;
        const step = () => {
          const desired = place([spec], nodes, actual, liveness, now);
          const runs = desired.allocs.filter((a) => a.status === 'run');
          const perNode = new Map<string, number>();
          for (const a of runs) perNode.set(a.node, (perNode.get(a.node) ?? 0) + 1);
          for (const [, n] of perNode) expect(n).toBe(1);
          for (const a of runs) {
            const n = nodes.find((x) => x.peerId === a.node)!;
            expect(staticFilter(spec, n)).toBeUndefined();
            expect(liveness.get(a.node)?.status).not.toBe('lost');
          }
          // Every eligible alive node has one (the job is small, so room is never short).
          for (const n of nodes)
            if (liveness.get(n.peerId)?.status === 'alive' && staticFilter(spec, n) === undefined)
              expect(perNode.get(n.peerId)).toBe(1);
          // Nothing placed for a node on another one: never more copies than eligible nodes.
          expect(desired.stops).toEqual([]);
          return desired;
        };
        let desired = step();
        actual = started(desired, now);
        for (const i of leaving) {
          const gone = nodes[i % nodes.length]!.peerId;
          liveness.set(gone, { status: 'lost', lastSeen: now });
          now += 1000;
          const before = new Map(
            desired.allocs.filter((a) => a.status === 'run').map((a) => [a.allocId, a.node]),
          );
          desired = step();
          const after = new Map(desired.allocs.map((a) => [a.allocId, a]));
          for (const [id, at] of before) {
            // Copies on heard nodes keep their id and node; the lost node's stays listed, not replaced.
            expect(after.get(id)?.node).toBe(at);
            if (at !== gone && liveness.get(at)?.status !== 'lost') expect(after.get(id)?.status).toBe('run');
          }
          actual = merge(actual, started(desired, now));
        }
        for (const id of joining) {
          nodes = [...nodes, node(id, { arch: arm ? 'arm64' : 'amd64' })];
          liveness.set(id, { status: 'alive', lastSeen: now });
          now += 1000;
          const before = desired.allocs.filter((a) => a.status === 'run').map((a) => a.allocId);
          desired = step();
          const ids = new Set(desired.allocs.filter((a) => a.status === 'run').map((a) => a.allocId));
          for (const b of before) expect(ids.has(b)).toBe(true);
          expect(desired.allocs.filter((a) => a.node === id && a.status === 'run')).toHaveLength(1);
          actual = merge(actual, started(desired, now));
        }
      }),
      { numRuns: 300 },
    );
  });

  test('system and periodic jobs: any arrival order of the same inputs gives byte-identical output', () => {
    fc.assert(
      fc.property(worldArb, fc.nat(), fc.integer({ min: 0, max: 30_000 }), (w, seed, at) => {
        const nodes = w.nodes.map((e) => e.node);
        const liveness = new Map<string, LivenessEntry>(
          w.nodes.map((e) => [e.node.peerId, { status: e.status, lastSeen: 0 }]),
        );
        const jobs: SchedJob[] = [
          systemJob(w.arm),
          job('tick', {
            type: 'periodic',
            driver: w.arm ? 'exec' : 'docker',
            periodic: { schedule: '*/5 * * * * *', timeZone: 'UTC', prohibitOverlap: w.arm, since: 0 },
          }),
        ];
        // A history: an earlier placement started, some of it finished since.
        const earlier = place(jobs, nodes, [], liveness, at);
        const actual = started(earlier, at).map((a, i) =>
          i % 2 === 0 ? { ...a, state: 'complete' as const } : a,
        );
        const now = at + 7_000;
        const one = place(jobs, nodes, actual, liveness, now);
        const other = place(
          shuffle(jobs, seed),
          shuffle(nodes, seed + 1),
          shuffle(actual, seed + 2),
          Object.fromEntries(shuffle([...liveness], seed + 3)),
          now,
        );
        expect(JSON.stringify(other)).toBe(JSON.stringify(one));
      }),
      { numRuns: 200 },
    );
  });
});
