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
import { allocId, parseAllocId } from './alloc-id.js';
import { Candidates } from './candidates.js';
import { canonical, compareStrings } from './canonical-order.js';
import { hostPorts, Usage } from './capacity.js';
import { jobLayout } from './job-layout.js';
import { nodeScore } from './node-score.js';
import { buildNodeTable, type NodeTable } from './node-table.js';
import { isLive, reconcile } from './reconcile.js';
import { rescheduleDecision, reschedulePolicy } from './reschedule.js';
import { deriveRollout, movesNow, type SlotProgress, targetJob } from './rollout.js';
import type { SlotLayout } from './slot-layout.js';
import {
  type Copy,
  finished,
  handedOver,
  type JobWork,
  outgoingCopy,
  type SlotWork,
  unheardRival,
} from './slot-work.js';
import { toleratedLosers, toleratedSlots } from './tolerated.js';
import type {
  Desired,
  DesiredAlloc,
  LivenessView,
  PeriodicRun,
  PlacementFailure,
  Rollout,
  RolloutStopFirst,
  SchedAllocation,
  SchedDisconnect,
  SchedJob,
  SchedNode,
  StopDecision,
  Unplaced,
} from './types.js';

const NOMAD_DISCONNECT: SchedDisconnect = { lostAfter: 0, replace: true, reconcile: 'best_score' };

class Placer {
  readonly #table: NodeTable;
  readonly #usage: Usage;
  readonly #candidates: Candidates;
  readonly #now: number;
  readonly allocs: DesiredAlloc[] = [];
  readonly stops: StopDecision[] = [];
  readonly unplaced: Unplaced[] = [];
  readonly rollouts: Rollout[] = [];
  revisitAt: number | undefined;
  readonly #rollout = new Map<string, Rollout>();
  /** Unknown copies whose slot is not replaced only because this view hears no other device. */
  readonly #isolatedHeld = new Set<string>();
  readonly #layouts = new Map<string, SlotLayout>();
  readonly runs: PeriodicRun[] = [];

  constructor(table: NodeTable, now: number) {
    this.#table = table;
    this.#usage = new Usage(table.nodes);
    this.#candidates = new Candidates(table, this.#usage);
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
      const copies = byJob.get(job.name) ?? [];
      const { job: laid, layout, nodes, run } = jobLayout(job, this.#table, copies, this.#now);
      if (layout !== undefined) this.#layouts.set(job.name, layout);
      if (run !== undefined) {
        this.runs.push(run);
        if (run.next !== undefined) this.revisitAt = Math.min(this.revisitAt ?? run.next, run.next);
        return laid;
      }
      const rollout = deriveRollout(laid, copies, nodes);
      this.rollouts.push(rollout);
      this.#rollout.set(job.name, rollout);
      return targetJob(laid, rollout);
    });
  }

  /** Live copies of jobs that no longer want them are stopped; the rest are grouped by job and slot. */
  #group(jobs: readonly SchedJob[], allocations: readonly SchedAllocation[]): Map<string, Copy[][]> {
    const byName = new Map(jobs.map((job) => [job.name, job]));
    const grouped = new Map<string, Copy[][]>();
    for (const record of allocations) {
      const key = parseAllocId(record.allocId);
      const job = key === undefined || key.job !== record.job ? undefined : byName.get(key.job);
      const layout = key === undefined ? undefined : this.#layouts.get(key.job);
      const slot = layout === undefined ? key?.slot : layout.slotOf(record, key!.slot);
      if (key === undefined || job === undefined) this.#stop(record, 'orphaned');
      else if (job.status === 'stopped') this.#stop(record, 'job-stopped');
      // A system job's copy on a node no longer eligible, a periodic job's finished earlier run: no slot.
      else if (slot === undefined || slot >= job.count) this.#stop(record, 'scaled-down');
      else {
        let slots = grouped.get(job.name);
        if (slots === undefined) {
          slots = Array.from({ length: job.count }, () => []);
          grouped.set(job.name, slots);
        }
        const info = this.#table.byId.get(record.node);
        slots[slot]!.push({
          allocId: record.allocId,
          jobVersion: record.jobVersion,
          generation: key.generation,
          score: 0,
          startedAt: record.startedAt,
          state: record.state,
          record,
          slot,
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
          c.score = nodeScore(job, info, standing, (counts.get(c.nodeIndex) ?? 1) - 1, false, 0);
        }
      }
    }
  }

  #reconcileJob(job: SchedJob, slotCopies: Copy[][] | undefined): JobWork {
    const disconnect = job.disconnect ?? NOMAD_DISCONNECT;
    // 'yes': its node may come back within lostAfter; 'isolated': only this view's isolation keeps it unreplaced.
    const waiting = (c: Copy): 'no' | 'yes' | 'isolated' => {
      if (!disconnect.replace) return 'yes';
      const until = c.heard.lastSeen + disconnect.lostAfter;
      if (this.#now < until) {
        this.revisitAt = Math.min(this.revisitAt ?? until, until);
        return 'yes';
      }
      return this.#table.isolated && disconnect.whenIsolated !== 'replace' ? 'isolated' : 'no';
    };
    const covers = (unknown: readonly Copy[]): boolean => {
      const waits = unknown.map(waiting);
      if (waits.includes('yes')) return true;
      unknown.forEach((c, i) => {
        if (waits[i] === 'isolated') this.#isolatedHeld.add(c.allocId);
      });
      return waits.includes('isolated');
    };
    const slots: SlotWork[] = [];
    const layout = this.#layouts.get(job.name);
    const tolerated = toleratedSlots(this.#rollout.get(job.name));
    for (let slot = 0; slot < job.count; slot++) {
      const copies = slotCopies?.[slot] ?? [];
      const yielded = tolerated.has(slot) ? toleratedLosers(this.#rollout.get(job.name)!.target, copies) : [];
      const connected = copies.filter((c) => c.heard.condition !== 'disconnected' && !yielded.includes(c));
      const unknown = copies.filter((c) => c.heard.condition === 'disconnected' && isLive(c.state));
      const { survivor, losers } = reconcile(connected, disconnect.reconcile, job.version);
      const prior = outgoingCopy(job.version, survivor, losers, disconnect.reconcile);
      for (const l of [...losers, ...yielded]) if (l !== prior?.copy) this.#stop(l.record, 'duplicate');
      if (prior !== undefined && !prior.keep) this.#stop(prior.copy.record, 'updated');
      const standsIn =
        survivor !== undefined &&
        unknown.length > 0 &&
        reconcile([survivor, ...unknown.map(unheardRival)], disconnect.reconcile, job.version).survivor !==
          survivor;
      slots.push({
        slot,
        copies,
        survivor,
        standsIn,
        unknown,
        covered:
          survivor === undefined &&
          (finished(job, copies) ||
            this.#holdsFailed(job, copies) ||
            covers(unknown) ||
            layout?.holds(slot, this.#table) === true),
        preferred: layout?.pinned(slot) ?? (survivor === undefined ? handedOver(job, copies) : undefined),
        outgoing: prior?.keep === true ? prior.copy : undefined,
      });
    }
    return { job, slots };
  }

  /** A slot whose copies failed waits before its next copy, or gets none once its attempts ran out. */
  #holdsFailed(job: SchedJob, copies: readonly Copy[]): boolean {
    const decision = rescheduleDecision(
      copies.map((c) => c.record),
      job.version,
      reschedulePolicy(job),
      this.#now,
    );
    if (decision.kind === 'wait') this.revisitAt = Math.min(this.revisitAt ?? decision.until, decision.until);
    return decision.kind !== 'place';
  }

  /**
   * Surviving copies are committed oldest first, those standing in for an unheard copy after all others;
   * one that no longer fits its node (its capacity shrank, or two sides of a partition filled it) is evicted
   * and its slot placed again, so capacity always holds. Stand-ins go last because whether a copy stands in
   * depends on who is heard: losing a node turns its slots' duplicates elsewhere into stand-ins, and taken
   * oldest first among the rest they could evict copies that node never ran. Outgoing copies (a surge's old
   * side) go after everything: a slot without one still has its new copy.
   */
  #keepWhatFits(work: readonly JobWork[]): void {
    const kept: { job: SchedJob; ports: readonly string[]; slot: SlotWork; copy: Copy; out: boolean }[] = [];
    for (const { job, slots } of work) {
      const ports = hostPorts(job);
      for (const slot of slots) {
        if (slot.survivor !== undefined) kept.push({ job, ports, slot, copy: slot.survivor, out: false });
        if (slot.outgoing !== undefined) kept.push({ job, ports, slot, copy: slot.outgoing, out: true });
      }
    }
    kept.sort(
      (a, b) =>
        Number(a.out) - Number(b.out) ||
        Number(a.slot.standsIn) - Number(b.slot.standsIn) ||
        a.copy.startedAt - b.copy.startedAt ||
        compareStrings(a.copy.allocId, b.copy.allocId),
    );
    for (const { job, ports, slot, copy, out } of kept) {
      if (copy.nodeIndex < 0) continue;
      if (this.#usage.exhausted(copy.nodeIndex, job, ports) === undefined) {
        this.#usage.add(copy.nodeIndex, job, ports);
      } else {
        this.#stop(copy.record, 'evicted');
        if (out) slot.outgoing = undefined;
        else slot.survivor = undefined;
      }
    }
  }

  #placeJob({ job, slots }: JobWork): void {
    const ports = hostPorts(job);
    const collisions = new Map<number, number>();
    for (const s of slots) {
      for (const c of [s.survivor, s.outgoing]) {
        const at = c?.nodeIndex ?? -1;
        if (at >= 0) collisions.set(at, (collisions.get(at) ?? 0) + 1);
      }
    }
    const stopFirst: RolloutStopFirst[] = [];
    const surging = this.#startUpdates(job, slots, ports, collisions, stopFirst);
    let failure: PlacementFailure | undefined;
    for (const s of slots) {
      for (const c of s.unknown) this.#emit(job, c, 'unknown');
      if (s.survivor !== undefined) this.#emit(job, s.survivor, 'run');
      else if (!s.covered) failure = this.#placeSlot(job, s, ports, collisions, failure, surging, stopFirst);
      if (s.outgoing !== undefined) this.#emit(job, s.outgoing, 'outgoing');
    }
    if (stopFirst.length > 0) {
      const i = this.rollouts.findIndex((r) => r.job === job.name);
      this.rollouts[i] = { ...this.rollouts[i]!, stopFirst: stopFirst.sort((a, b) => a.slot - b.slot) };
    }
  }

  /**
   * A new copy for an empty slot. A surging slot's old copy still holds its node: when no eligible node has
   * room beside it (resources, or a host port both would need), the old copy stops first and the slot is
   * placed again without it, today's destructive update, and the rollout says so (`stopFirst`).
   */
  #placeSlot(
    job: SchedJob,
    s: SlotWork,
    ports: readonly string[],
    collisions: Map<number, number>,
    failure: PlacementFailure | undefined,
    surging: ReadonlySet<number>,
    stopFirst: RolloutStopFirst[],
  ): PlacementFailure | undefined {
    const generation = s.copies.reduce((g, c) => Math.max(g, c.generation + 1), 0);
    // Usage only grows: once a slot finds no room neither will the next (unless a surge falls back).
    const surge = surging.has(s.slot) && s.outgoing !== undefined;
    const pinned = job.type === 'system' ? s.preferred : undefined; // no room there says nothing of the next slot
    let chosen =
      failure === undefined || surge || pinned !== undefined
        ? this.#candidates.choose(job, s, generation, ports, collisions)
        : undefined;
    if (chosen === undefined && surge) {
      stopFirst.push({ slot: s.slot, reason: this.#noRoom(job, s.outgoing!, ports) });
      this.#release(job, s.outgoing!, ports, collisions);
      s.outgoing = undefined;
      failure = undefined;
      chosen = this.#candidates.choose(job, s, generation, ports, collisions);
    }
    if (chosen === undefined) {
      if (failure === undefined || pinned !== undefined)
        failure = this.#candidates.explain(job, ports, pinned);
      this.unplaced.push({ job: job.name, jobVersion: job.version, slot: s.slot, failure });
      return failure;
    }
    const info = this.#table.nodes[chosen.node]!;
    const layoutSlot = this.#layouts.get(job.name)?.idSlot(s.slot) ?? s.slot;
    this.#usage.add(chosen.node, job, ports);
    collisions.set(chosen.node, (collisions.get(chosen.node) ?? 0) + 1);
    this.allocs.push({
      allocId: allocId(job.name, job.version, layoutSlot, generation, info.node.peerId),
      job: job.name,
      jobVersion: job.version,
      slot: s.slot,
      generation,
      node: info.node.peerId,
      status: 'run',
      score: chosen.score,
    });
    return failure;
  }

  /**
   * Slots on another version than the target, or on a drained node, move as the job's rollout allows (rollout.ts:
   * canaries first, then `maxParallel` at a time, gated on the verdicts of the copies already moved). A version
   * move surges: the old copy keeps running, and holding its resources, as the slot's `outgoing` copy while the
   * new one starts beside it (its node first); it stops once the new copy is judged healthy (#reconcileJob).
   * A copy leaving a drained node stops first (both would be the same version). Returns the surging slots.
   */
  #startUpdates(
    job: SchedJob,
    slots: readonly SlotWork[],
    ports: readonly string[],
    collisions: Map<number, number>,
    stopFirst: RolloutStopFirst[],
  ): Set<number> {
    const surging = new Set<number>();
    const rollout = this.#rollout.get(job.name);
    if (rollout === undefined) return surging;
    const progress = slots.map((s): SlotProgress => {
      const c = s.survivor;
      if (c === undefined) return s.covered ? 'idle' : 'moving';
      // A system job's copy serves its own node: a drain leaves it there.
      const drained = job.type !== 'system' && this.#table.nodes[c.nodeIndex]?.node.drained;
      if (c.jobVersion !== job.version || drained) return 'outdated';
      return c.record.verdict?.healthy === true ? 'settled' : 'moving';
    });
    for (const s of slots) {
      const reason = this.#stoppedFirst(job, s, ports);
      if (reason !== undefined) stopFirst.push({ slot: s.slot, reason });
    }
    for (const slot of movesNow(rollout, progress)) {
      const s = slots[slot]!;
      const old = s.survivor!;
      s.survivor = undefined;
      if (old.nodeIndex >= 0) s.preferred = old.nodeIndex;
      if (old.jobVersion !== job.version && s.outgoing === undefined) {
        s.outgoing = old;
        surging.add(slot);
      } else {
        this.#release(job, old, ports, collisions);
      }
    }
    return surging;
  }

  /** The old copy of a moving slot stops now and gives its node back. */
  #release(job: SchedJob, old: Copy, ports: readonly string[], collisions: Map<number, number>): void {
    this.#stop(old.record, 'updated');
    if (old.nodeIndex >= 0) {
      this.#usage.remove(old.nodeIndex, job, ports);
      collisions.set(old.nodeIndex, collisions.get(old.nodeIndex)! - 1);
    }
  }

  /** Why a surging slot's new copy found no room: the old copy's node's first short dimension, else any node's. */
  #noRoom(job: SchedJob, old: Copy, ports: readonly string[]): string {
    const here = old.nodeIndex >= 0 ? this.#usage.exhausted(old.nodeIndex, job, ports) : undefined;
    if (here !== undefined) return here;
    const { exhausted } = this.#candidates.explain(job, ports);
    return (['cpu', 'memory', 'ports'] as const).find((d) => exhausted[d] > 0) ?? 'no eligible node';
  }

  /**
   * A slot still in a stop-then-start move: its copy of the target is not yet judged, and the copy before it,
   * of another version, was stopped without an outgoing surge. The reason is what still keeps a second copy
   * off that copy's node; none (room has appeared since) and the slot is not reported.
   */
  #stoppedFirst(job: SchedJob, s: SlotWork, ports: readonly string[]): string | undefined {
    const c = s.survivor;
    if (c === undefined || s.outgoing !== undefined || c.jobVersion !== job.version || c.record.verdict)
      return undefined;
    const prev = s.copies.find(
      (p) => p.generation === c.generation - 1 && p.jobVersion !== job.version && p.state === 'complete',
    );
    return prev === undefined || prev.nodeIndex < 0
      ? undefined
      : this.#usage.exhausted(prev.nodeIndex, job, ports);
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
      ...(status === 'unknown' && this.#isolatedHeld.has(c.allocId)
        ? { notReplaced: 'isolated' as const }
        : {}),
    });
  }

  /** Only live copies need stopping; finished ones are history. */
  #stop(record: SchedAllocation, reason: StopDecision['reason']): void {
    if (isLive(record.state))
      this.stops.push({ allocId: record.allocId, job: record.job, node: record.node, reason });
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
    ...(placer.runs.length > 0 ? { runs: placer.runs } : {}),
    revisitAt: placer.revisitAt,
  };
}
