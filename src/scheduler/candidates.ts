/**
 * Where a slot that needs a copy goes: its preferred node if that still fits, else the best of the first K
 * feasible nodes on the job's class ring (Nomad's limit iterator, with its skip threshold); and, when none
 * fits, why not (every known node counted once).
 */
import { BestNode } from './best-node.js';
import { compareStrings } from './canonical-order.js';
import type { Usage } from './capacity.js';
import { feasibilityClass, staticFilter } from './feasibility.js';
import { finish, HASH_SEED, mixInt, mixString } from './hash.js';
import { nodeScore } from './node-score.js';
import type { NodeInfo, NodeTable } from './node-table.js';
import { type ClassRing, classRing, ringOrder, ringStart } from './ring.js';
import type { SlotWork } from './slot-work.js';
import type { Dimension, PlacementFailure, SchedJob } from './types.js';

/** Nomad's limit iterator skips up to this many negatively scored nodes looking for better ones. */
const MAX_SKIP = 3;

export class Candidates {
  readonly #table: NodeTable;
  readonly #usage: Usage;
  readonly #order: readonly NodeInfo[];
  readonly #rings = new Map<string, ClassRing>();
  readonly #jobRings = new Map<SchedJob, ClassRing>();

  /** `usage` is the placement's own, read as it grows. */
  constructor(table: NodeTable, usage: Usage) {
    this.#table = table;
    this.#usage = usage;
    this.#order = ringOrder(table.nodes);
  }

  choose(
    job: SchedJob,
    s: SlotWork,
    generation: number,
    ports: readonly string[],
    collisions: ReadonlyMap<number, number>,
  ): { node: number; score: number } | undefined {
    const failedOn = s.copies.filter((c) => c.state === 'failed' && c.jobVersion === job.version);
    const rank = (node: number) =>
      nodeScore(
        job,
        this.#table.nodes[node]!,
        this.#usage,
        collisions.get(node) ?? 0,
        failedOn.some((c) => c.nodeIndex === node),
        1,
      );

    if (s.preferred !== undefined) {
      const info = this.#table.nodes[s.preferred]!;
      if (
        info.condition === 'ready' &&
        staticFilter(job, info.node) === undefined &&
        this.#usage.exhausted(s.preferred, job, ports) === undefined
      ) {
        return { node: s.preferred, score: rank(s.preferred) };
      }
      // A system job's slot is its node's (system-slots.ts): no other node may take it.
      if (job.type === 'system') return undefined;
    }

    const ring = this.#ring(job);
    const size = ring.members.length;
    if (size === 0) return undefined;
    const key = finish(mixInt(mixInt(mixString(HASH_SEED, job.name), s.slot), generation));
    const limit =
      job.type === 'batch' || job.type === 'periodic'
        ? 2
        : Math.max(2, Math.ceil(Math.log2(this.#table.readyCount)));

    const best = new BestNode(key, this.#table.nodes);
    const bestSkipped = new BestNode(key, this.#table.nodes);
    let taken = 0;
    let skipped = 0;
    for (
      let step = 0, i = ringStart(ring, key);
      step < size && taken < limit;
      step++, i = i + 1 === size ? 0 : i + 1
    ) {
      const node = ring.members[i]!;
      if (this.#usage.exhausted(node, job, ports) !== undefined) continue;
      const score = rank(node);
      if (score < 0 && skipped < MAX_SKIP) {
        skipped++;
        bestSkipped.offer(node, score);
      } else {
        taken++;
        best.offer(node, score);
      }
    }
    if (taken < limit) best.merge(bestSkipped);
    return best.choice();
  }

  /** Why no node (or the `only` one) takes a copy of the job: every node counted once, by its first reason. */
  explain(job: SchedJob, ports: readonly string[], only?: number): PlacementFailure {
    const filtered = new Map<string, number>();
    const exhausted: Record<Dimension, number> = { cpu: 0, memory: 0, ports: 0 };
    let nodesIneligible = 0;
    const nodes = only === undefined ? this.#table.nodes : [this.#table.nodes[only]!];
    for (const info of nodes) {
      if (info.condition !== 'ready') {
        nodesIneligible++;
        continue;
      }
      const filter = staticFilter(job, info.node);
      if (filter !== undefined) {
        filtered.set(filter, (filtered.get(filter) ?? 0) + 1);
        continue;
      }
      const dimension = this.#usage.exhausted(info.index, job, ports);
      if (dimension !== undefined) exhausted[dimension]++;
    }
    return {
      nodesEvaluated: nodes.length,
      nodesIneligible,
      filtered: Object.fromEntries([...filtered].sort((a, b) => compareStrings(a[0], b[0]))),
      exhausted,
    };
  }

  /** Nodes that are ready and statically feasible for the job, in ring order; shared by its class. */
  #ring(job: SchedJob): ClassRing {
    const known = this.#jobRings.get(job);
    if (known !== undefined) return known;
    const key = feasibilityClass(job);
    let ring = this.#rings.get(key);
    if (ring === undefined) {
      ring = classRing(
        this.#order,
        (info) => info.condition === 'ready' && staticFilter(job, info.node) === undefined,
      );
      this.#rings.set(key, ring);
    }
    this.#jobRings.set(job, ring);
    return ring;
  }
}
