import type { TaskHandle } from '../../src/node/drivers/driver.js';

export interface Workload {
  readonly allocId: string;
  readonly job: string;
  readonly jobVersion: number;
  readonly owner: string;
  readonly startedAt: number;
}

export type RuntimeEvent =
  | { readonly kind: 'start'; readonly at: number; readonly workload: Workload }
  | {
      readonly kind: 'stop';
      readonly at: number;
      readonly workload: Workload;
      readonly why: 'driver' | 'device-crash';
    };

/**
 * The devices' workloads, kept outside the agents: an agent restart finds its workloads still running (as
 * Docker keeps containers), a device crash kills them. Every start and stop is recorded with the time, so the
 * report can count duplicate and missing allocation-seconds and which copies were stopped.
 */
export class SimRuntime {
  readonly #now: () => number;
  /** owner peer id → alloc id → workload */
  readonly #running = new Map<string, Map<string, Workload>>();
  readonly events: RuntimeEvent[] = [];

  constructor(now: () => number) {
    this.#now = now;
  }

  start(owner: string, allocId: string, job: string, jobVersion: number): Workload {
    const mine = this.#of(owner);
    const existing = mine.get(allocId);
    if (existing && existing.jobVersion === jobVersion) return existing;
    if (existing) this.stop(owner, allocId);
    const workload = { allocId, job, jobVersion, owner, startedAt: this.#now() };
    mine.set(allocId, workload);
    this.events.push({ kind: 'start', at: workload.startedAt, workload });
    return workload;
  }

  stop(owner: string, allocId: string): void {
    const mine = this.#of(owner);
    const workload = mine.get(allocId);
    if (!workload) return;
    mine.delete(allocId);
    this.events.push({ kind: 'stop', at: this.#now(), workload, why: 'driver' });
  }

  get(owner: string, allocId: string): Workload | undefined {
    return this.#running.get(owner)?.get(allocId);
  }

  list(owner: string): Workload[] {
    return [...(this.#running.get(owner)?.values() ?? [])];
  }

  /** The device loses power: everything it ran is gone. */
  crash(owner: string): void {
    const mine = this.#of(owner);
    const at = this.#now();
    for (const workload of mine.values())
      this.events.push({ kind: 'stop', at, workload, why: 'device-crash' });
    mine.clear();
  }

  /** Running copies per job, across every device. */
  copiesPerJob(): Map<string, number> {
    const copies = new Map<string, number>();
    for (const mine of this.#running.values())
      for (const w of mine.values()) copies.set(w.job, (copies.get(w.job) ?? 0) + 1);
    return copies;
  }

  all(): Workload[] {
    return [...this.#running.values()].flatMap((mine) => [...mine.values()]);
  }

  #of(owner: string): Map<string, Workload> {
    let mine = this.#running.get(owner);
    if (!mine) {
      mine = new Map();
      this.#running.set(owner, mine);
    }
    return mine;
  }
}

export function handleOf(w: Workload): TaskHandle {
  return {
    allocId: w.allocId,
    job: w.job,
    jobVersion: w.jobVersion,
    driver: 'exec',
    ref: `sim:${w.allocId}`,
    // Drivers give wall-clock milliseconds, whole (the allocation status schema takes nothing else).
    startedAt: Math.floor(performance.timeOrigin + w.startedAt),
    state: 'running',
  };
}
