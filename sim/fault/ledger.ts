import type { RuntimeEvent, Workload } from '../driver/sim-runtime.js';

/**
 * Allocation-seconds, integrated from samples of running copies per job: more copies than `count` is
 * duplicate time, fewer is missing time. Seconds are real; the report multiplies by the scenario's scale.
 */
export class CopyLedger {
  readonly #desired = new Map<string, number>();
  #last: number | undefined;
  duplicateSeconds = 0;
  missingSeconds = 0;

  want(job: string, count: number): void {
    this.#desired.set(job, count);
  }

  get jobs(): ReadonlyMap<string, number> {
    return this.#desired;
  }

  sample(now: number, copies: ReadonlyMap<string, number>): void {
    if (this.#last !== undefined) {
      const dt = (now - this.#last) / 1000;
      for (const [job, count] of this.#desired) {
        const running = copies.get(job) ?? 0;
        this.duplicateSeconds += Math.max(0, running - count) * dt;
        this.missingSeconds += Math.max(0, count - running) * dt;
      }
    }
    this.#last = now;
  }

  /** Every job runs exactly its count. */
  exact(copies: ReadonlyMap<string, number>): boolean {
    return [...this.#desired].every(([job, count]) => (copies.get(job) ?? 0) === count);
  }

  overCount(copies: ReadonlyMap<string, number>): string[] {
    return [...this.#desired]
      .filter(([job, count]) => (copies.get(job) ?? 0) > count)
      .map(([job, count]) => `${job}: ${copies.get(job)} copies > ${count}`);
  }
}

/**
 * Originals are the copies running when the faults began. A restart of a surviving original: its device never
 * lost power, yet the very same allocation stopped and started again there (what an agent that fails to adopt
 * its workloads, or flaps them, does). An original stopped for good (a duplicate that lost its slot to another
 * copy) is counted apart: the job keeps running elsewhere.
 */
export function originalsOutcome(
  baseline: readonly Workload[],
  events: readonly RuntimeEvent[],
  since: number,
  survivors: ReadonlySet<string>,
): { stopped: number; restarted: string[] } {
  let stopped = 0;
  const restarted: string[] = [];
  for (const original of baseline) {
    if (!survivors.has(original.owner)) continue;
    const mine = (e: RuntimeEvent) =>
      e.at >= since && e.workload.allocId === original.allocId && e.workload.owner === original.owner;
    const stop = events.find((e) => e.kind === 'stop' && mine(e));
    if (!stop) continue;
    stopped++;
    if (events.some((e) => e.kind === 'start' && e.at >= stop.at && mine(e)))
      restarted.push(`${original.allocId} on ${original.owner.slice(-8)}`);
  }
  return { stopped, restarted };
}
