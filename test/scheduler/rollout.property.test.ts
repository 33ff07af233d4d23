/**
 * Rollouts played out step by step against `place`: every step places, applies the placement (stops complete,
 * new copies run) and has the owners judge copies started in an earlier step, by a fate drawn per version and
 * slot. A new version is submitted once the world is quiet (or a step budget runs out).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseAllocId } from '../../src/scheduler/alloc-id.js';
import { place } from '../../src/scheduler/placement.js';
import type {
  Desired,
  Rollout,
  SchedAllocation,
  SchedJob,
  SchedJobVersion,
  SchedUpdate,
} from '../../src/scheduler/types.js';
import { alive, applyStep, type Fate, job, LIVE, node } from './fixtures.js';
import { shuffle } from './world.js';

const NODES = ['a', 'b', 'c', 'd'].map((id) => node(id));
const EVERYONE = alive(['a', 'b', 'c', 'd']);

interface Scenario {
  readonly count: number;
  readonly update: SchedUpdate;
  /** Per version after the first (which is always healthy): the fate of each slot's copies. */
  readonly versions: readonly (readonly Fate[])[];
  readonly seed: number;
}

const fateArb = fc.constantFrom<Fate>('healthy', 'healthy', 'unhealthy-running', 'unhealthy-failed');

const scenarioArb = (fates: fc.Arbitrary<Fate>) =>
  fc
    .record({
      count: fc.integer({ min: 1, max: 5 }),
      maxParallel: fc.integer({ min: 1, max: 3 }),
      canary: fc.integer({ min: 0, max: 5 }),
      autoRevert: fc.boolean(),
      versions: fc.array(fc.array(fates, { minLength: 5, maxLength: 5 }), { minLength: 1, maxLength: 3 }),
      seed: fc.nat(),
      // Percentage waves instead of canaries (waves.ts), with a failure budget.
      waves: fc.option(
        fc
          .uniqueArray(fc.integer({ min: 1, max: 99 }), { maxLength: 3 })
          .map((ps) => [...ps.sort((x, y) => x - y), 100]),
        { nil: undefined },
      ),
      maxFailureRatio: fc.constantFrom(0, 0.25, 0.5),
    })
    .map(
      ({ count, maxParallel, canary, autoRevert, versions, seed, waves, maxFailureRatio }): Scenario => ({
        count,
        update:
          waves === undefined
            ? { maxParallel, canary: Math.min(canary, count), autoRevert }
            : { maxParallel, autoRevert, waves, maxFailureRatio },
        versions,
        seed,
      }),
    );

function jobAt(s: Scenario, version: number): SchedJob {
  const fields = (v: number): SchedJobVersion => {
    const {
      name: _n,
      status: _s,
      ...rest
    } = job('web', {
      count: s.count,
      update: s.update,
      driver: 'exec',
      version: v,
    });
    return rest;
  };
  return {
    ...fields(version),
    name: 'web',
    status: 'running',
    history: Array.from({ length: version - 1 }, (_, i) => fields(i + 1)),
  };
}

const fateOf = (s: Scenario, version: number, slot: number): Fate =>
  version === 1 ? 'healthy' : (s.versions[version - 2]![slot] ?? 'healthy');

interface Step {
  readonly job: SchedJob;
  readonly before: readonly SchedAllocation[];
  readonly desired: Desired;
  readonly rollout: Rollout;
}

/** Plays the scenario out; returns every step and the final world. */
function play(s: Scenario, stepsPerVersion = 40): { steps: Step[]; actual: SchedAllocation[] } {
  const steps: Step[] = [];
  let actual: SchedAllocation[] = [];
  let now = 0;
  for (let version = 1; version <= s.versions.length + 1; version++) {
    const current = jobAt(s, version);
    for (let i = 0; i < stepsPerVersion; i++) {
      now++;
      const desired = place([current], NODES, actual, EVERYONE, now);
      steps.push({ job: current, before: actual, desired, rollout: desired.rollouts[0]! });
      const step = applyStep(actual, desired, now, (a) =>
        fateOf(s, a.jobVersion, parseAllocId(a.allocId)!.slot),
      );
      actual = step.actual;
      if (step.quiet) break;
    }
  }
  return { steps, actual };
}

/**
 * Slots whose desired copy is the target version and not yet judged healthy: the ones in transition. Not counted:
 * failures a wave tolerates (settled), and a slot whose every copy just ended (an old version's copy failed while
 * another slot moved): it is refilled at once, not moved.
 */
function inTransition(step: Step): number {
  const byId = new Map(step.before.map((a) => [a.allocId, a]));
  const tolerated = new Set(step.rollout.wave?.tolerated ?? []);
  const occupied = new Set(
    step.before.filter((a) => LIVE.has(a.state)).map((a) => parseAllocId(a.allocId)!.slot),
  );
  return step.desired.allocs.filter(
    (a) =>
      a.status === 'run' &&
      a.jobVersion === step.rollout.target &&
      !tolerated.has(a.slot) &&
      (occupied.has(a.slot) || byId.has(a.allocId)) &&
      byId.get(a.allocId)?.verdict?.healthy !== true,
  ).length;
}

/** A wave's tolerated failures keep their old copy serving beside the unhealthy one. */
const toleratedBound = (s: Scenario) =>
  s.update.waves === undefined ? 0 : Math.floor((s.update.maxFailureRatio ?? 0) * s.count);

describe('rollouts', () => {
  test('never more than max(maxParallel, canary) slots in transition', () => {
    fc.assert(
      fc.property(scenarioArb(fateArb), (s) => {
        const bound = Math.max(s.update.maxParallel, s.update.canary ?? 0);
        // The first version is a deployment, not a rollout: every slot is empty and is filled at once.
        for (const step of play(s).steps.filter((x) => x.job.version > 1))
          expect(inTransition(step)).toBeLessThanOrEqual(bound);
      }),
      { numRuns: 150 },
    );
  });

  test('surge bound: at most count + max(canary, maxParallel) copies desired or live, and the surge is used', () => {
    fc.assert(
      fc.property(scenarioArb(fateArb), (s) => {
        const bound = s.count + Math.max(s.update.maxParallel, s.update.canary ?? 0) + toleratedBound(s);
        const { steps, actual } = play(s);
        for (const step of steps) {
          const wanted = step.desired.allocs.filter((a) => a.status !== 'unknown');
          expect(wanted.length).toBeLessThanOrEqual(bound);
          expect(step.before.filter((a) => LIVE.has(a.state)).length).toBeLessThanOrEqual(bound);
        }
        expect(actual.filter((a) => LIVE.has(a.state)).length).toBeLessThanOrEqual(bound);
        // Every node has room, so the first move of the second version starts beside the old copies.
        const first = steps.find((x) => x.job.version === 2)!;
        expect(first.desired.allocs.length).toBeGreaterThan(s.count);
        expect(first.desired.stops).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });

  test('with room, an old copy stops only once its slot has a live successor judged healthy', () => {
    fc.assert(
      fc.property(scenarioArb(fateArb), (s) => {
        for (const step of play(s).steps) {
          const byId = new Map(step.before.map((a) => [a.allocId, a]));
          for (const stop of step.desired.stops.filter((x) => x.reason === 'updated')) {
            const slot = parseAllocId(stop.allocId)!.slot;
            const successor = step.desired.allocs.find((a) => a.slot === slot && a.status === 'run');
            const record = successor === undefined ? undefined : byId.get(successor.allocId);
            expect(record !== undefined && LIVE.has(record.state) && record.verdict?.healthy).toBe(true);
          }
          expect(step.rollout.stopFirst).toBeUndefined();
        }
      }),
      { numRuns: 150 },
    );
  });

  test('shuffled versions and statuses give byte-identical placements and rollouts', () => {
    fc.assert(
      fc.property(scenarioArb(fateArb), (s) => {
        const { steps } = play(s);
        for (const [i, step] of steps.entries()) {
          const shuffledJob = { ...step.job, history: shuffle(step.job.history ?? [], s.seed + i) };
          const again = place(
            [shuffledJob],
            shuffle(NODES, s.seed),
            shuffle(step.before, s.seed + i),
            EVERYONE,
            i + 1,
          );
          const first = place([step.job], NODES, step.before, EVERYONE, i + 1);
          expect(JSON.stringify(again)).toBe(JSON.stringify(first));
        }
      }),
      { numRuns: 60 },
    );
  });

  test('under autoRevert a failed version is never the target, nor placed, again until a newer one is submitted', () => {
    fc.assert(
      fc.property(scenarioArb(fateArb), (s) => {
        const reverted = new Set<number>();
        for (const step of play(s).steps) {
          const { latest, target, phase } = step.rollout;
          if (reverted.has(latest)) {
            expect(target).not.toBe(latest);
            const known = new Set(step.before.map((a) => a.allocId));
            const placedNew = step.desired.allocs.filter(
              (a) => !known.has(a.allocId) && a.jobVersion === latest,
            );
            expect(placedNew).toEqual([]);
          }
          if (phase === 'reverted') reverted.add(latest);
        }
      }),
      { numRuns: 150 },
    );
  });

  test('without failures every rollout completes: every slot on the newest version, judged healthy', () => {
    fc.assert(
      fc.property(scenarioArb(fc.constant<Fate>('healthy')), (s) => {
        const { steps, actual } = play(s);
        const last = steps.at(-1)!;
        expect(last.rollout).toMatchObject({
          phase: 'complete',
          target: s.versions.length + 1,
          counts: { total: s.count, updated: s.count, healthy: s.count },
        });
        const live = actual.filter((a) => LIVE.has(a.state));
        expect(live).toHaveLength(s.count);
        expect(live.every((a) => a.jobVersion === s.versions.length + 1 && a.verdict?.healthy)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  test('every rollout ends, whatever the fates: the world goes quiet, complete, reverted or (no revert) failed', () => {
    const stepsPerVersion = 40;
    fc.assert(
      fc.property(scenarioArb(fateArb), (s) => {
        // Waves revert with or without autoRevert, and the first version is always stable to go back to.
        const ends =
          s.update.waves === undefined ? ['complete', 'reverted', 'failed'] : ['complete', 'reverted'];
        for (const [version, steps] of Map.groupBy(play(s, stepsPerVersion).steps, (x) => x.job.version)) {
          if (version === 1) continue;
          // A version that kept relaunching a failing copy would use up its step budget.
          expect(steps.length).toBeLessThan(stepsPerVersion);
          expect(ends).toContain(steps.at(-1)!.rollout.phase);
        }
      }),
      { numRuns: 150 },
    );
  });

  test('with autoRevert, a failing newest version ends with every slot back on the last stable one', () => {
    const failing = fc.array(fc.constantFrom<Fate>('unhealthy-running', 'unhealthy-failed'), {
      minLength: 5,
      maxLength: 5,
    });
    fc.assert(
      fc.property(scenarioArb(fc.constant<Fate>('healthy')), failing, (base, bad) => {
        const s = {
          ...base,
          update: { ...base.update, autoRevert: true },
          versions: [...base.versions, bad],
        };
        const { steps, actual } = play(s);
        const stable = s.versions.length;
        expect(steps.at(-1)!.rollout).toMatchObject({ phase: 'reverted', target: stable });
        const live = actual.filter((a) => LIVE.has(a.state));
        expect(live.map((a) => a.jobVersion)).toEqual(Array(s.count).fill(stable));
      }),
      { numRuns: 100 },
    );
  });
});
