/**
 * Issue 4 acceptance, IN MEMORY: "7 agents, 20 jobs: every agent prints the same placement; partition two of
 * them, wait past lostAfter, heal: exactly count survive and the survivors follow the rule".
 *
 * Everything here is the real code: MeshState replicas exchanging real gossip messages and running the real
 * sync engine on heal, the real liveness view fed heartbeats on a simulated clock, the real scheduler behind the
 * real PlacementService (its debounce driven by fake timers). Only the network is simulated: a function that
 * carries each agent's gossip and heartbeats to the agents it can reach, so a partition is "stop carrying
 * between the groups". Each simulated node does what its plan says the way a node would once the runtime has
 * started a copy: it writes the allocation status (running, or complete when told to stop) into its own
 * document. The libp2p variant of this test belongs with the agent wiring.
 */
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { canonicalJson, type JsonValue } from '../../src/crdt/canonical-json.js';
import { validateJobSpec } from '../../src/crdt/job-spec.js';
import type { GossipMessage, MeshState } from '../../src/crdt/mesh-state.js';
import type { NodeRecord } from '../../src/crdt/records.js';
import { LivenessView } from '../../src/node/liveness/liveness.js';
import { PlacementService } from '../../src/node/placement/placement-service.js';
import type { DesiredAlloc, Plan, ReconcileMode } from '../../src/scheduler/index.js';
import { replica, syncPair, view } from '../crdt/replicas.js';

const DEBOUNCE_MS = 100;
const SECOND = 1_000;
const LIVENESS = { suspectAfterMs: 3_000, lostAfterMs: 10_000, forgetAfterMs: 3_600_000 };
const JOB_LOST_AFTER = '30s';

const PEERS = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6'] as const;
const MINORITY = new Set(['p5', 'p6']);
/**
 * Two identical nodes, one on each side, that only the `tie` jobs may use. A tie job's original runs on one of
 * them and its replacement on the other; once both sides meet, each node runs one copy of every tie job, so
 * both copies score exactly the same and best_score must fall back to the original.
 */
const TIE_POOL = new Set(['p2', 'p5']);

interface JobDef {
  readonly name: string;
  readonly count: number;
  readonly reconcile: ReconcileMode;
  readonly pool: 'general' | 'tie';
}

const MODES: readonly ReconcileMode[] = [
  'best_score',
  'keep_original',
  'keep_replacement',
  'longest_running',
];
const JOBS: readonly JobDef[] = [
  { name: 'tie-a', count: 1, reconcile: 'best_score', pool: 'tie' },
  { name: 'tie-b', count: 1, reconcile: 'best_score', pool: 'tie' },
  ...Array.from(
    { length: 18 },
    (_, i): JobDef => ({
      name: `job-${String(i).padStart(2, '0')}`,
      count: 1 + (i % 3),
      reconcile: MODES[i % MODES.length]!,
      pool: 'general',
    }),
  ),
];

function specOf(job: JobDef): JsonValue {
  const result = validateJobSpec({
    name: job.name,
    driver: 'docker',
    image: 'local/busybox:1',
    count: job.count,
    resources: { cpu: 50, memory: 64 },
    constraints: [{ attribute: 'label.pool', operator: '=', value: job.pool }],
    disconnect: { lostAfter: JOB_LOST_AFTER, reconcile: job.reconcile },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.spec as unknown as JsonValue;
}

function recordOf(peerId: string): NodeRecord {
  return {
    peerId,
    name: `dev-${peerId.slice(1)}`,
    labels: { pool: TIE_POOL.has(peerId) ? 'tie' : 'general' },
    arch: 'arm64',
    os: 'linux',
    cpu: 4_000,
    memory: 4_096,
    reserved: { cpu: 100, memory: 128 },
    drivers: ['docker'],
    agentVersion: '0.1.0',
    addresses: [],
  };
}

interface SimNode {
  readonly peerId: string;
  readonly state: MeshState;
  readonly liveness: LivenessView;
  readonly service: PlacementService;
  outbox: GossipMessage[];
  /** Every plan this node was handed, in order. */
  readonly plans: Plan[];
}

/** The simulated world: clock, reachability, and every start any node ever performed. */
class Sim {
  clock = 1_000_000;
  partitioned = false;
  readonly nodes: SimNode[];
  readonly starts: { allocId: string; node: string; at: number }[] = [];
  /** Why each stopped copy was stopped, as the stopping node's placement said. */
  readonly stopReasons = new Map<string, string>();
  readonly errors: unknown[] = [];

  constructor() {
    this.nodes = PEERS.map((peerId, i) => {
      const state = replica(peerId, i + 1);
      const liveness = new LivenessView(LIVENESS);
      const service = new PlacementService({
        self: peerId,
        readState: () => ({ jobs: state.jobs(), nodes: state.nodes(), allocations: state.allocations() }),
        readLiveness: () => liveness.list(this.clock),
        now: () => this.clock,
        debounceMs: DEBOUNCE_MS,
        onError: (e) => this.errors.push(e),
      });
      const node: SimNode = { peerId, state, liveness, service, outbox: [], plans: [] };
      service.onPlan((plan) => this.run(node, plan));
      return node;
    });
    for (const n of this.nodes) n.outbox.push(...n.state.putNodeRecord(recordOf(n.peerId), this.clock));
  }

  node(peerId: string): SimNode {
    return this.nodes.find((n) => n.peerId === peerId)!;
  }

  reachable(a: SimNode, b: SimNode): boolean {
    return a !== b && (!this.partitioned || MINORITY.has(a.peerId) === MINORITY.has(b.peerId));
  }

  /** What a node's runtime does with a plan: report each started copy running, each stopped one complete. */
  run(node: SimNode, plan: Plan): void {
    node.plans.push(plan);
    for (const a of plan.start) {
      this.starts.push({ allocId: a.allocId, node: node.peerId, at: this.clock });
      node.outbox.push(
        ...node.state.putAllocStatus(
          {
            allocId: a.allocId,
            job: a.job,
            jobVersion: a.jobVersion,
            node: node.peerId,
            state: 'running',
            health: 'healthy',
            startedAt: this.clock,
            restarts: 0,
          },
          this.clock,
        ),
      );
    }
    const reasons = new Map(node.service.desired()!.stops.map((d) => [d.allocId, d.reason]));
    for (const a of plan.stop) this.stopReasons.set(a.allocId, reasons.get(a.allocId)!);
    for (const a of plan.stop)
      node.outbox.push(...node.state.putAllocStatus({ ...a, state: 'complete' }, this.clock));
  }

  /** Carries every queued gossip message to the nodes its sender reaches; syncs when a receiver asks to. */
  pump(): number {
    let carried = 0;
    for (let round = 0; round < 100; round++) {
      const sending = this.nodes.filter((n) => n.outbox.length > 0);
      if (sending.length === 0) return carried;
      for (const from of sending) {
        const messages = from.outbox;
        from.outbox = [];
        for (const to of this.nodes) {
          if (!this.reachable(from, to)) continue;
          for (const m of messages) {
            carried++;
            const outcome = to.state.applyGossip(m, this.clock);
            if (outcome.kind === 'applied') to.outbox.push(...outcome.publish);
            else if (outcome.kind === 'missing-deps' || outcome.kind === 'stale-epoch') this.sync(from, to);
            else if (outcome.kind === 'rejected') throw new Error(outcome.reason);
          }
        }
      }
    }
    throw new Error('gossip does not quiesce');
  }

  sync(a: SimNode, b: SimNode): void {
    const { publish } = syncPair(a.state, b.state, this.clock);
    a.outbox.push(...publish);
    b.outbox.push(...publish);
  }

  /** Gossip until quiet, every agent asks for a placement, the debounce fires; until nothing moves. */
  settle(): void {
    for (let round = 0; round < 20; round++) {
      const carried = this.pump();
      for (const n of this.nodes) n.service.schedule();
      vi.advanceTimersByTime(DEBOUNCE_MS);
      if (carried === 0 && this.nodes.every((n) => n.outbox.length === 0)) return;
    }
    throw new Error('placement does not settle');
  }

  /** One simulated second: heartbeats reach whoever can hear them, then everything settles. */
  tick(seconds = 1): void {
    for (let s = 0; s < seconds; s++) {
      this.clock += SECOND;
      for (const to of this.nodes) {
        for (const from of this.nodes)
          if (this.reachable(from, to))
            to.liveness.observe(from.peerId, this.clock, {
              name: from.peerId,
              incarnation: 1,
              beat: this.clock,
              addresses: [],
            });
        to.liveness.tick(this.clock);
      }
      this.settle();
    }
  }

  heal(): void {
    this.partitioned = false;
    for (const a of this.nodes)
      for (const b of this.nodes)
        if (a.peerId < b.peerId && MINORITY.has(a.peerId) !== MINORITY.has(b.peerId)) this.sync(a, b);
  }

  desiredText(node: SimNode): string {
    return canonicalJson(node.service.desired());
  }

  runningCopies(observer: SimNode): Map<string, string[]> {
    const byJob = new Map<string, string[]>();
    for (const a of observer.state.allocations())
      if (a.state === 'running') byJob.set(a.job, [...(byJob.get(a.job) ?? []), a.allocId]);
    return byJob;
  }
}

const slotKey = (a: { job: string; slot: number }) => `${a.job}/${a.slot}`;
const group = (nodes: readonly SimNode[], minority: boolean) =>
  nodes.filter((n) => MINORITY.has(n.peerId) === minority);

describe('placement on 7 in-memory agents (real crdt, liveness, scheduler and service; simulated network)', () => {
  // One world, three acts: each test continues where the previous one left it.
  let s: Sim;
  let originals: Map<string, DesiredAlloc>;
  let replacements: Map<string, DesiredAlloc>;
  let partitionedAt: number;

  beforeAll(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    s = new Sim();
  });
  afterAll(() => {
    for (const n of s.nodes) n.service.close();
    vi.useRealTimers();
  });

  test('every agent computes the same placement, and the fleet runs exactly it', () => {
    // Agents hear each other before the jobs arrive (a fresh view hears nobody and places only on itself).
    s.tick(3);
    const submitter = s.node('p3');
    for (const job of JOBS)
      submitter.outbox.push(...submitter.state.submitJob(job.name, specOf(job), 'op', s.clock).publish);
    s.tick(3);

    expect(s.errors).toEqual([]);
    const reference = canonicalJson(view(s.nodes[0]!.state));
    for (const n of s.nodes) expect(canonicalJson(view(n.state))).toBe(reference);
    const placement = s.desiredText(s.nodes[0]!);
    for (const n of s.nodes) expect(s.desiredText(n)).toBe(placement);
    // What `meshctl alloc list` prints on each device.
    const rows = canonicalJson(s.nodes[0]!.service.allocs());
    for (const n of s.nodes) expect(canonicalJson(n.service.allocs())).toBe(rows);

    const desired = s.nodes[0]!.service.desired()!;
    expect(desired.unplaced).toEqual([]);
    expect(desired.stops).toEqual([]);
    for (const job of JOBS) {
      const copies = desired.allocs.filter((a) => a.job === job.name);
      expect(copies.map((a) => [a.status, a.generation])).toEqual(Array(job.count).fill(['run', 0]));
      for (const c of copies) expect(TIE_POOL.has(c.node)).toBe(job.pool === 'tie');
    }
    // What runs is what is desired: one start per copy, on its node.
    expect(s.starts.map((x) => [x.allocId, x.node]).sort()).toEqual(
      desired.allocs.map((a) => [a.allocId, a.node]).sort(),
    );
    originals = new Map(desired.allocs.map((a) => [slotKey(a), a]));
    // Both sides must hold originals for the partition to test anything in either direction.
    expect(desired.allocs.some((a) => MINORITY.has(a.node))).toBe(true);
    expect(desired.allocs.some((a) => !MINORITY.has(a.node))).toBe(true);
  });

  test('partitioned: the other side is unknown and kept until lostAfter, then replaced on each side', () => {
    s.partitioned = true;
    partitionedAt = s.clock;
    s.tick(20); // past liveness lostAfter (10 s), before the jobs' lostAfter (30 s)
    for (const minority of [false, true]) {
      const side = group(s.nodes, minority);
      const desired = side[0]!.service.desired()!;
      for (const n of side) expect(s.desiredText(n)).toBe(canonicalJson(desired));
      expect(desired.allocs.every((a) => a.generation === 0)).toBe(true);
      for (const a of desired.allocs)
        expect(a.status).toBe(MINORITY.has(a.node) === minority ? 'run' : 'unknown');
    }

    s.tick(15); // now 35 s since the last heartbeat crossed
    expect(s.clock - partitionedAt).toBeGreaterThanOrEqual(30_000);
    replacements = new Map();
    for (const minority of [false, true]) {
      const side = group(s.nodes, minority);
      const desired = side[0]!.service.desired()!;
      for (const n of side) expect(s.desiredText(n)).toBe(canonicalJson(desired));
      expect(desired.unplaced).toEqual([]);
      for (const original of originals.values()) {
        const copies = desired.allocs.filter((a) => slotKey(a) === slotKey(original));
        const own = copies.filter((a) => a.status === 'run');
        expect(own).toHaveLength(1);
        expect(MINORITY.has(own[0]!.node)).toBe(minority);
        if (MINORITY.has(original.node) === minority) {
          expect(own[0]!.allocId).toBe(original.allocId);
          expect(copies).toHaveLength(1);
        } else {
          expect(own[0]!.generation).toBe(1);
          expect(copies.find((a) => a.status === 'unknown')?.allocId).toBe(original.allocId);
          replacements.set(slotKey(original), own[0]!);
        }
      }
    }
    expect(replacements.size).toBe(originals.size);
    // Every replacement really runs on its side.
    for (const r of replacements.values()) expect(s.starts.some((x) => x.allocId === r.allocId)).toBe(true);
  });

  test("healed: exactly count copies survive, chosen by each job's rule, and no survivor restarts", () => {
    const startsBefore = s.starts.length;
    const plansBefore = new Map(s.nodes.map((n) => [n.peerId, n.plans.length]));
    s.heal();
    s.tick(5);
    expect(s.errors).toEqual([]);

    const reference = canonicalJson(view(s.nodes[0]!.state));
    for (const n of s.nodes) expect(canonicalJson(view(n.state))).toBe(reference);
    const placement = s.desiredText(s.nodes[0]!);
    for (const n of s.nodes) expect(s.desiredText(n)).toBe(placement);
    // What `meshctl alloc list` prints on each device.
    const rows = canonicalJson(s.nodes[0]!.service.allocs());
    for (const n of s.nodes) expect(canonicalJson(n.service.allocs())).toBe(rows);
    const desired = s.nodes[0]!.service.desired()!;
    expect(desired.stops).toEqual([]);
    expect(desired.unplaced).toEqual([]);

    const running = s.runningCopies(s.nodes[0]!);
    const survivors = new Map(desired.allocs.map((a) => [slotKey(a), a]));
    const outcomes: Record<string, number> = {};
    for (const job of JOBS) {
      const copies = desired.allocs.filter((a) => a.job === job.name);
      expect(copies.map((a) => a.status)).toEqual(Array(job.count).fill('run'));
      expect(running.get(job.name)?.sort()).toEqual(copies.map((a) => a.allocId).sort());
      for (let slot = 0; slot < job.count; slot++) {
        const key = `${job.name}/${slot}`;
        const survivor = survivors.get(key)!.allocId;
        const original = originals.get(key)!.allocId;
        const replacement = replacements.get(key)!.allocId;
        const kept = survivor === original ? 'original' : survivor === replacement ? 'replacement' : 'other';
        const outcome = `${job.pool === 'tie' ? 'tie ' : ''}${job.reconcile}: ${kept}`;
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        if (job.reconcile === 'keep_replacement') expect(kept).toBe('replacement');
        else if (job.reconcile === 'best_score' && job.pool === 'general') expect(kept).not.toBe('other');
        else expect(kept).toBe('original'); // keep_original, longest_running, and best_score on a tie
      }
    }
    // The tie pool really tied: at the heal each of its two identical nodes ran one copy of every tie job.
    for (const job of JOBS.filter((j) => j.pool === 'tie')) {
      const nodes = [originals.get(`${job.name}/0`)!.node, replacements.get(`${job.name}/0`)!.node];
      expect(nodes.sort()).toEqual([...TIE_POOL].sort());
    }
    expect(outcomes['tie best_score: original']).toBe(2);

    // Nobody started anything after the heal, and no copy was ever started twice.
    expect(s.starts.length).toBe(startsBefore);
    const ids = s.starts.map((x) => x.allocId);
    expect(new Set(ids).size).toBe(ids.length);
    // Each survivor stays in its node's plan as keep, and no plan since the heal told anyone to start it.
    for (const a of survivors.values()) {
      const node = s.node(a.node);
      expect(node.service.localPlan()!.keep.map((k) => k.allocId)).toContain(a.allocId);
      for (const p of node.plans.slice(plansBefore.get(node.peerId)))
        expect(p.start.map((x) => x.allocId)).not.toContain(a.allocId);
    }
    // Every loser was stopped as a duplicate by its own node.
    const losers = [...originals.values(), ...replacements.values()].filter(
      (a) => survivors.get(slotKey(a))?.allocId !== a.allocId,
    );
    expect(losers).toHaveLength(originals.size);
    const states = new Map(s.nodes[0]!.state.allocations().map((a) => [a.allocId, a.state]));
    for (const l of losers) {
      expect(states.get(l.allocId)).toBe('complete');
      expect(s.stopReasons.get(l.allocId)).toBe('duplicate');
    }
  });
});
