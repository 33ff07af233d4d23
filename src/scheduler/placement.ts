/**
 * `place`: where every allocation of every job should be, computed by every agent from its own replica.
 *
 * Why two agents whose views agree compute byte-identical placements:
 *  - The inputs are canonicalised first: jobs by name, nodes by peer id, allocations by id (duplicates, which
 *    the replicated state should never hold, resolved by their canonical JSON). Every later loop walks these
 *    sorted arrays or counts up slot numbers; Maps and Sets serve lookups only and are never iterated into
 *    the output. So arrival order cannot leak.
 *  - Nothing else is consulted: no clock but `now`, no randomness. Candidate order comes from a hash of
 *    names (ring.ts), tie-breaks from a rendezvous hash of names, then peer ids. Every comparison is total.
 *  - Scores are quantised to integer millionths before they are compared or stored, so float noise in the
 *    last bit cannot flip a tie, and JSON prints them identically.
 *  - The output is sorted (allocs by job, slot, id; stops by id; unplaced by job, slot).
 * "Views agree" means: same jobs, node records and allocation statuses, and every node in the same
 * condition (ready, suspect, disconnected) with the same side of its job's `lostAfter`. `now` enters only
 * through that comparison (rollouts are gated on the owners' verdicts, not on clocks), so agents with
 * different clocks still agree whenever it does.
 * Views that disagree (partitions) may place a slot twice; the copies carry different ids (the node is in
 * the id) and `reconcile` picks one survivor per slot as soon as both are visible.
 *
 * Stability: a live copy whose node can be heard stays where it is; only slots without such a copy are
 * placed, so a new node takes nothing over and a lost node moves only its own slots.
 */
import { canonicalJson } from '../crdt/canonical-json.js';
import { allocId, parseAllocId } from './alloc-id.js';
import { hostPorts, Usage } from './capacity.js';
import { feasibilityClass, staticFilter } from './feasibility.js';
import { finish, HASH_SEED, mixInt, mixString, rendezvous } from './hash.js';
import { buildNodeTable, type Heard, type NodeInfo, type NodeTable } from './node-table.js';
import { isLive, reconcile, type SlotCopy } from './reconcile.js';
import { type ClassRing, classRing, ringOrder, ringStart } from './ring.js';
import { deriveRollout, movesNow, type SlotProgress, targetJob } from './rollout.js';
import { affinityScore, finalScore, fitScore } from './score.js';
import type {
  Desired,
  DesiredAlloc,
  Dimension,
  LivenessView,
  PlacementFailure,
  Rollout,
  SchedAllocation,
  SchedDisconnect,
  SchedJob,
  SchedNode,
  StopDecision,
  Unplaced,
} from './types.js';

const NOMAD_DISCONNECT: SchedDisconnect = { lostAfter: 0, replace: true, reconcile: 'best_score' };

/** Nomad's limit iterator skips up to this many negatively scored nodes looking for better ones. */
const MAX_SKIP = 3;

interface Copy extends SlotCopy {
  /** Set once every copy is counted (see #scoreCopies). */
  score: number;
  readonly record: SchedAllocation;
  readonly slot: number;
  /** -1 when the node has no record. */
  readonly nodeIndex: number;
  readonly heard: Heard;
}

interface SlotWork {
  readonly slot: number;
  readonly copies: readonly Copy[];
  survivor: Copy | undefined;
  /**
   * The survivor only stands in for an unheard copy that would beat it were its node heard. It yields
   * capacity to every other survivor, so that a node dropping out cannot revive a duplicate that then
   * evicts copies the node never ran.
   */
  readonly standsIn: boolean;
  readonly unknown: readonly Copy[];
  /**
   * No heard copy survived, yet a new one is unnecessary: a copy on an unheard node still waits out
   * `lostAfter` (or must not be replaced), or a batch run finished. A survivor displaced later by an update
   * or an eviction is always replaced.
   */
  readonly covered: boolean;
  /** A slot moving to a new version tries its old node first (see handedOver). */
  preferred: number | undefined;
}

interface JobWork {
  readonly job: SchedJob;
  readonly slots: readonly SlotWork[];
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorted by key; of two items with one key, the one with the greater canonical JSON, whatever came first. */
function canonical<T>(items: readonly T[], key: (item: T) => string): T[] {
  const sorted = [...items].sort((a, b) => compareStrings(key(a), key(b)));
  const out: T[] = [];
  for (const item of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && key(last) === key(item)) {
      if (canonicalJson(item) > canonicalJson(last)) out[out.length - 1] = item;
    } else {
      out.push(item);
    }
  }
  return out;
}

/**
 * The node of an older-version copy that finished because its slot was being updated: its successor goes
 * there first, so that the evaluations between the old copy stopping and the new one starting agree on
 * where (and so on the id of) the new copy.
 */
function handedOver(job: SchedJob, copies: readonly Copy[]): number | undefined {
  let latest: Copy | undefined;
  for (const c of copies) if (latest === undefined || c.generation > latest.generation) latest = c;
  if (latest === undefined || latest.state !== 'complete' || latest.jobVersion === job.version)
    return undefined;
  return latest.nodeIndex >= 0 ? latest.nodeIndex : undefined;
}

/** Above every real score, which lies in [-1, 1] in millionths. */
const UNSCORED = Number.MAX_SAFE_INTEGER;

/**
 * An unheard copy as a rival of the slot's heard survivor. A copy whose node has no record cannot be scored;
 * it is taken to score best, so the heard copy yields capacity rather than evicting anything for it.
 */
function unheardRival(c: Copy): SlotCopy {
  return c.nodeIndex >= 0 ? c : { ...c, score: UNSCORED };
}

class Placer {
  readonly #table: NodeTable;
  readonly #order: readonly NodeInfo[];
  readonly #usage: Usage;
  readonly #rings = new Map<string, ClassRing>();
  readonly #jobRings = new Map<SchedJob, ClassRing>();
  readonly #now: number;
  readonly allocs: DesiredAlloc[] = [];
  readonly stops: StopDecision[] = [];
  readonly unplaced: Unplaced[] = [];
  readonly rollouts: Rollout[] = [];
  revisitAt: number | undefined;
  readonly #rollout = new Map<string, Rollout>();

  constructor(table: NodeTable, now: number) {
    this.#table = table;
    this.#order = ringOrder(table.nodes);
    this.#usage = new Usage(table.nodes);
    this.#now = now;
  }

  run(jobs: readonly SchedJob[], allocations: readonly SchedAllocation[]): void {
    const targeted = this.#targets(jobs, allocations);
    const grouped = this.#group(targeted, allocations);
    const work = targeted
      .filter((job) => job.status === 'running')
      .map((job) => this.#reconcileJob(job, grouped.get(job.name)));
    this.#keepWhatFits(work);
    for (const w of work) this.#placeJob(w);
  }

  /** Each running job as its rollout targets it: the newest version, or the one autoRevert fell back to. */
  #targets(jobs: readonly SchedJob[], allocations: readonly SchedAllocation[]): SchedJob[] {
    const byJob = new Map<string, SchedAllocation[]>();
    for (const a of allocations) {
      const list = byJob.get(a.job);
      if (list === undefined) byJob.set(a.job, [a]);
      else list.push(a);
    }
    return jobs.map((job) => {
      if (job.status !== 'running') return job;
      const rollout = deriveRollout(job, byJob.get(job.name) ?? []);
      this.rollouts.push(rollout);
      this.#rollout.set(job.name, rollout);
      return targetJob(job, rollout);
    });
  }

  /** Live copies of jobs that no longer want them are stopped; the rest are grouped by job and slot. */
  #group(jobs: readonly SchedJob[], allocations: readonly SchedAllocation[]): Map<string, Copy[][]> {
    const byName = new Map(jobs.map((job) => [job.name, job]));
    const grouped = new Map<string, Copy[][]>();
    for (const record of allocations) {
      const key = parseAllocId(record.allocId);
      const job = key === undefined || key.job !== record.job ? undefined : byName.get(key.job);
      if (key === undefined || job === undefined) this.#stop(record, 'orphaned');
      else if (job.status === 'stopped') this.#stop(record, 'job-stopped');
      else if (key.slot >= job.count) this.#stop(record, 'scaled-down');
      else {
        let slots = grouped.get(job.name);
        if (slots === undefined) {
          slots = Array.from({ length: job.count }, () => []);
          grouped.set(job.name, slots);
        }
        const info = this.#table.byId.get(record.node);
        slots[key.slot]!.push({
          allocId: record.allocId,
          jobVersion: record.jobVersion,
          generation: key.generation,
          score: 0,
          startedAt: record.startedAt,
          state: record.state,
          record,
          slot: key.slot,
          nodeIndex: info?.index ?? -1,
          heard: info ?? this.#table.heard(record.node),
        });
      }
    }
    this.#scoreCopies(byName, grouped);
    return grouped;
  }

  /**
   * Every live copy is scored on its node as the node stands now, all copies counted, so that reconcile
   * compares copies by one yardstick and a node's score does not depend on which slot is looked at first.
   */
  #scoreCopies(byName: ReadonlyMap<string, SchedJob>, grouped: Map<string, Copy[][]>): void {
    const standing = new Usage(this.#table.nodes);
    const perJobNode = new Map<string, Map<number, number>>();
    for (const [name, slots] of grouped) {
      const job = byName.get(name)!;
      const counts = new Map<number, number>();
      perJobNode.set(name, counts);
      for (const copies of slots) {
        for (const c of copies) {
          if (!isLive(c.state) || c.nodeIndex < 0) continue;
          standing.add(c.nodeIndex, job, []);
          counts.set(c.nodeIndex, (counts.get(c.nodeIndex) ?? 0) + 1);
        }
      }
    }
    for (const [name, slots] of grouped) {
      const job = byName.get(name)!;
      const counts = perJobNode.get(name)!;
      for (const copies of slots) {
        for (const c of copies) {
          if (!isLive(c.state) || c.nodeIndex < 0) continue;
          const info = this.#table.nodes[c.nodeIndex]!;
          c.score = this.#score(job, info, standing, (counts.get(c.nodeIndex) ?? 1) - 1, false, 0);
        }
      }
    }
  }

  /** `extra` is what the copy being scored adds to the node's usage (0 when it is already counted). */
  #score(job: SchedJob, info: NodeInfo, usage: Usage, collisions: number, penalised: boolean, extra: 0 | 1) {
    const fit = fitScore(
      job.scheduling?.algorithm ?? 'binpack',
      info.capCpu,
      info.capMemory,
      usage.cpu[info.index]! + extra * job.resources.cpu,
      usage.memory[info.index]! + extra * job.resources.memory,
    );
    const affinity = job.affinities === undefined ? 0 : affinityScore(job.affinities, info.node);
    return finalScore(fit, affinity, collisions, job.count, penalised);
  }

  #reconcileJob(job: SchedJob, slotCopies: Copy[][] | undefined): JobWork {
    const disconnect = job.disconnect ?? NOMAD_DISCONNECT;
    const stillWaiting = (c: Copy) => {
      if (!disconnect.replace || this.#table.isolated) return true;
      const until = c.heard.lastSeen + disconnect.lostAfter;
      if (this.#now >= until) return false;
      this.revisitAt = Math.min(this.revisitAt ?? until, until);
      return true;
    };
    const slots: SlotWork[] = [];
    for (let slot = 0; slot < job.count; slot++) {
      const copies = slotCopies?.[slot] ?? [];
      const connected = copies.filter((c) => c.heard.condition !== 'disconnected');
      const unknown = copies.filter((c) => c.heard.condition === 'disconnected' && isLive(c.state));
      const { survivor, losers } = reconcile(connected, disconnect.reconcile, job.version);
      for (const l of losers) this.#stop(l.record, 'duplicate');
      const standsIn =
        survivor !== undefined &&
        unknown.length > 0 &&
        reconcile([survivor, ...unknown.map(unheardRival)], disconnect.reconcile, job.version).survivor !==
          survivor;
      const batchDone =
        job.type === 'batch' && copies.some((c) => c.state === 'complete' && c.jobVersion === job.version);
      slots.push({
        slot,
        copies,
        survivor,
        standsIn,
        unknown,
        covered: survivor === undefined && (batchDone || unknown.some(stillWaiting)),
        preferred: survivor === undefined ? handedOver(job, copies) : undefined,
      });
    }
    return { job, slots };
  }

  /**
   * Surviving copies are committed oldest first, those standing in for an unheard copy after all others;
   * one that no longer fits its node (its capacity shrank, or two sides of a partition filled it) is evicted
   * and its slot placed again, so capacity always holds. Stand-ins go last because whether a copy stands in
   * depends on who is heard: losing a node turns its slots' duplicates elsewhere into stand-ins, and taken
   * oldest first among the rest they could evict copies that node never ran.
   */
  #keepWhatFits(work: readonly JobWork[]): void {
    const kept: { job: SchedJob; ports: readonly string[]; slot: SlotWork; copy: Copy }[] = [];
    for (const { job, slots } of work) {
      const ports = hostPorts(job);
      for (const slot of slots)
        if (slot.survivor !== undefined) kept.push({ job, ports, slot, copy: slot.survivor });
    }
    kept.sort(
      (a, b) =>
        Number(a.slot.standsIn) - Number(b.slot.standsIn) ||
        a.copy.startedAt - b.copy.startedAt ||
        compareStrings(a.copy.allocId, b.copy.allocId),
    );
    for (const { job, ports, slot, copy } of kept) {
      if (copy.nodeIndex < 0) continue;
      if (this.#usage.exhausted(copy.nodeIndex, job, ports) === undefined) {
        this.#usage.add(copy.nodeIndex, job, ports);
      } else {
        this.#stop(copy.record, 'evicted');
        slot.survivor = undefined;
      }
    }
  }

  #placeJob({ job, slots }: JobWork): void {
    const ports = hostPorts(job);
    const collisions = new Map<number, number>();
    for (const s of slots) {
      const at = s.survivor?.nodeIndex ?? -1;
      if (at >= 0) collisions.set(at, (collisions.get(at) ?? 0) + 1);
    }
    this.#startUpdates(job, slots, ports, collisions);
    let failure: PlacementFailure | undefined;
    for (const s of slots) {
      for (const c of s.unknown) this.#emit(job, c, 'unknown');
      if (s.survivor !== undefined) {
        this.#emit(job, s.survivor, 'run');
        continue;
      }
      if (s.covered) continue;
      const generation = s.copies.reduce((g, c) => Math.max(g, c.generation + 1), 0);
      // Usage only grows while one job is placed, so once a slot finds no room, neither will the next.
      const chosen = failure === undefined ? this.#choose(job, s, generation, ports, collisions) : undefined;
      if (chosen === undefined) {
        failure ??= this.#explain(job, ports);
        this.unplaced.push({ job: job.name, jobVersion: job.version, slot: s.slot, failure });
        continue;
      }
      const info = this.#table.nodes[chosen.node]!;
      this.#usage.add(chosen.node, job, ports);
      collisions.set(chosen.node, (collisions.get(chosen.node) ?? 0) + 1);
      this.allocs.push({
        allocId: allocId(job.name, job.version, s.slot, generation, info.node.peerId),
        job: job.name,
        jobVersion: job.version,
        slot: s.slot,
        generation,
        node: info.node.peerId,
        status: 'run',
        score: chosen.score,
      });
    }
  }

  /**
   * Slots on another version than the target, or on a drained node, move as the job's rollout allows (rollout.ts:
   * canaries first, then `maxParallel` at a time, gated on the verdicts of the copies already moved). The old
   * copy stops (destructive update, as Nomad) and frees its node, which the new copy tries first if it is ready.
   */
  #startUpdates(
    job: SchedJob,
    slots: readonly SlotWork[],
    ports: readonly string[],
    collisions: Map<number, number>,
  ) {
    const rollout = this.#rollout.get(job.name);
    if (rollout === undefined) return;
    const progress = slots.map((s): SlotProgress => {
      const c = s.survivor;
      if (c === undefined) return s.covered ? 'idle' : 'moving';
      if (c.jobVersion !== job.version || this.#table.nodes[c.nodeIndex]?.node.drained) return 'outdated';
      return c.record.verdict?.healthy === true ? 'settled' : 'moving';
    });
    for (const slot of movesNow(rollout, progress)) {
      const s = slots[slot]!;
      const old = s.survivor!;
      this.#stop(old.record, 'updated');
      s.survivor = undefined;
      if (old.nodeIndex >= 0) {
        this.#usage.remove(old.nodeIndex, job, ports);
        collisions.set(old.nodeIndex, collisions.get(old.nodeIndex)! - 1);
        s.preferred = old.nodeIndex;
      }
    }
  }

  #choose(
    job: SchedJob,
    s: SlotWork,
    generation: number,
    ports: readonly string[],
    collisions: ReadonlyMap<number, number>,
  ): { node: number; score: number } | undefined {
    const failedOn = s.copies.filter((c) => c.state === 'failed' && c.jobVersion === job.version);
    const rank = (node: number) =>
      this.#score(
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
    }

    const ring = this.#ring(job);
    const size = ring.members.length;
    if (size === 0) return undefined;
    const key = finish(mixInt(mixInt(mixString(HASH_SEED, job.name), s.slot), generation));
    const limit = job.type === 'batch' ? 2 : Math.max(2, Math.ceil(Math.log2(this.#table.readyCount)));

    const best = new Best(key, this.#table.nodes);
    const bestSkipped = new Best(key, this.#table.nodes);
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

  #explain(job: SchedJob, ports: readonly string[]): PlacementFailure {
    const filtered = new Map<string, number>();
    const exhausted: Record<Dimension, number> = { cpu: 0, memory: 0, ports: 0 };
    let nodesIneligible = 0;
    for (const info of this.#table.nodes) {
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
      nodesEvaluated: this.#table.nodes.length,
      nodesIneligible,
      filtered: Object.fromEntries([...filtered].sort((a, b) => compareStrings(a[0], b[0]))),
      exhausted,
    };
  }

  #emit(job: SchedJob, c: Copy, status: DesiredAlloc['status']): void {
    this.allocs.push({
      allocId: c.allocId,
      job: job.name,
      jobVersion: c.jobVersion,
      slot: c.slot,
      generation: c.generation,
      node: c.record.node,
      status,
      score: c.score,
    });
  }

  /** Only live copies need stopping; finished ones are history. */
  #stop(record: SchedAllocation, reason: StopDecision['reason']): void {
    if (isLive(record.state))
      this.stops.push({ allocId: record.allocId, job: record.job, node: record.node, reason });
  }
}

/** Highest score; ties by rendezvous weight of (copy, node), then by peer id. */
class Best {
  node = -1;
  score = 0;
  weight = 0;
  readonly #key: number;
  readonly #nodes: readonly NodeInfo[];

  constructor(key: number, nodes: readonly NodeInfo[]) {
    this.#key = key;
    this.#nodes = nodes;
  }

  offer(node: number, score: number): void {
    const weight = rendezvous(this.#key, this.#nodes[node]!.hash);
    if (
      this.node < 0 ||
      score > this.score ||
      (score === this.score &&
        (weight > this.weight ||
          (weight === this.weight && this.#nodes[node]!.node.peerId < this.#nodes[this.node]!.node.peerId)))
    ) {
      this.node = node;
      this.score = score;
      this.weight = weight;
    }
  }

  merge(other: Best): void {
    if (other.node >= 0) this.offer(other.node, other.score);
  }

  choice(): { node: number; score: number } | undefined {
    return this.node < 0 ? undefined : { node: this.node, score: this.score };
  }
}

export function place(
  jobs: readonly SchedJob[],
  nodes: readonly SchedNode[],
  allocations: readonly SchedAllocation[],
  liveness: LivenessView,
  now: number,
): Desired {
  const placer = new Placer(
    buildNodeTable(
      canonical(nodes, (n) => n.peerId),
      liveness,
    ),
    now,
  );
  placer.run(
    canonical(jobs, (j) => j.name),
    canonical(allocations, (a) => a.allocId),
  );
  return {
    allocs: placer.allocs.sort(
      (a, b) => compareStrings(a.job, b.job) || a.slot - b.slot || compareStrings(a.allocId, b.allocId),
    ),
    stops: placer.stops.sort((a, b) => compareStrings(a.allocId, b.allocId)),
    unplaced: placer.unplaced.sort((a, b) => compareStrings(a.job, b.job) || a.slot - b.slot),
    rollouts: placer.rollouts,
    revisitAt: placer.revisitAt,
  };
}
