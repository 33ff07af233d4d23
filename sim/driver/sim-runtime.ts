import type { LogLine, TaskHandle } from '../../src/node/drivers/driver.js';

export interface Workload {
  readonly allocId: string;
  readonly job: string;
  readonly jobVersion: number;
  readonly owner: string;
  readonly startedAt: number;
  /** Counts starts in this runtime: a replaced workload is told apart from the one before. */
  readonly launch: number;
}

/** A workload that ended on its own and is kept, as a runtime keeps an exited container, until stopped. */
export interface ExitedWorkload {
  readonly workload: Workload;
  readonly exitCode: number;
}

export type RuntimeEvent =
  | { readonly kind: 'start'; readonly at: number; readonly workload: Workload }
  | {
      readonly kind: 'stop';
      readonly at: number;
      readonly workload: Workload;
      readonly why: 'driver' | 'device-crash' | 'exited';
    };

/**
 * The devices' workloads, kept outside the agents: an agent restart finds its workloads still running (as
 * Docker keeps containers), a device crash kills them. Every start and stop is recorded with the time, so the
 * report can count duplicate and missing allocation-seconds and which copies were stopped. Workloads run no
 * code: a scenario (or a test) makes one write output or exit.
 */
export class SimRuntime {
  readonly #now: () => number;
  /** owner peer id → alloc id → workload */
  readonly #running = new Map<string, Map<string, Workload>>();
  readonly #exited = new Map<string, Map<string, ExitedWorkload>>();
  readonly #output = new WeakMap<Workload, LogLine[]>();
  readonly events: RuntimeEvent[] = [];
  #launches = 0;

  constructor(now: () => number) {
    this.#now = now;
  }

  start(owner: string, allocId: string, job: string, jobVersion: number): Workload {
    const mine = this.#of(this.#running, owner);
    const existing = mine.get(allocId);
    if (existing && existing.jobVersion === jobVersion) return existing;
    if (existing) this.stop(owner, allocId);
    this.#of(this.#exited, owner).delete(allocId);
    const workload = { allocId, job, jobVersion, owner, startedAt: this.#now(), launch: ++this.#launches };
    mine.set(allocId, workload);
    this.events.push({ kind: 'start', at: workload.startedAt, workload });
    return workload;
  }

  stop(owner: string, allocId: string): void {
    this.#of(this.#exited, owner).delete(allocId);
    const mine = this.#of(this.#running, owner);
    const workload = mine.get(allocId);
    if (!workload) return;
    mine.delete(allocId);
    this.events.push({ kind: 'stop', at: this.#now(), workload, why: 'driver' });
  }

  /** The workload ends on its own with `exitCode`. */
  exit(owner: string, allocId: string, exitCode: number): void {
    const mine = this.#of(this.#running, owner);
    const workload = mine.get(allocId);
    if (!workload) return;
    mine.delete(allocId);
    this.#of(this.#exited, owner).set(allocId, { workload, exitCode });
    this.events.push({ kind: 'stop', at: this.#now(), workload, why: 'exited' });
  }

  /** The workload writes a line to one of its streams. */
  write(owner: string, allocId: string, stream: LogLine['stream'], line: string): void {
    const workload = this.get(owner, allocId) ?? this.exited(owner, allocId)?.workload;
    if (!workload) return;
    const output = this.#output.get(workload) ?? [];
    output.push({ stream, line });
    this.#output.set(workload, output);
  }

  /** What the workload wrote, oldest first. */
  output(workload: Workload): readonly LogLine[] {
    return this.#output.get(workload) ?? [];
  }

  get(owner: string, allocId: string): Workload | undefined {
    return this.#running.get(owner)?.get(allocId);
  }

  exited(owner: string, allocId: string): ExitedWorkload | undefined {
    return this.#exited.get(owner)?.get(allocId);
  }

  list(owner: string): Workload[] {
    return [...(this.#running.get(owner)?.values() ?? [])];
  }

  listExited(owner: string): ExitedWorkload[] {
    return [...(this.#exited.get(owner)?.values() ?? [])];
  }

  /** The device loses power: everything it ran is gone. */
  crash(owner: string): void {
    const mine = this.#of(this.#running, owner);
    const at = this.#now();
    for (const workload of mine.values())
      this.events.push({ kind: 'stop', at, workload, why: 'device-crash' });
    mine.clear();
    this.#of(this.#exited, owner).clear();
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

  #of<V>(table: Map<string, Map<string, V>>, owner: string): Map<string, V> {
    let mine = table.get(owner);
    if (!mine) {
      mine = new Map();
      table.set(owner, mine);
    }
    return mine;
  }
}

export function handleOf(w: Workload, exitCode?: number): TaskHandle {
  const base = {
    allocId: w.allocId,
    job: w.job,
    jobVersion: w.jobVersion,
    driver: 'exec' as const,
    ref: `sim:${w.allocId}:${w.launch}`,
    // Drivers give wall-clock milliseconds, whole (the allocation status schema takes nothing else).
    startedAt: Math.floor(performance.timeOrigin + w.startedAt),
  };
  return exitCode === undefined ? { ...base, state: 'running' } : { ...base, state: 'exited', exitCode };
}
