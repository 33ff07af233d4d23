import type {
  CallOptions,
  Driver,
  ExecResult,
  LogLine,
  LogOptions,
  TaskHandle,
  TaskSpecFor,
  TaskStats,
} from '../../src/node/drivers/driver.js';
import { DriverError } from '../../src/node/drivers/driver-error.js';
import { handleOf, type SimRuntime, type Workload } from './sim-runtime.js';

/**
 * The `exec` driver as far as the reconciler can tell, with workloads that live in a SimRuntime instead of the
 * process table: they start at once, run until stopped unless the runtime makes them exit, and pass every exec
 * health check without running it. Logs are what the runtime made them write; a follow ends there.
 */
export class SimDriver implements Driver<'exec'> {
  readonly name = 'exec' as const;
  readonly #runtime: SimRuntime;
  readonly #owner: string;

  constructor(runtime: SimRuntime, owner: string) {
    this.#runtime = runtime;
    this.#owner = owner;
  }

  async start(task: TaskSpecFor<'exec'>): Promise<TaskHandle> {
    return handleOf(this.#runtime.start(this.#owner, task.allocId, task.job, task.jobVersion));
  }

  async stop(allocId: string): Promise<void> {
    this.#runtime.stop(this.#owner, allocId);
  }

  async inspect(allocId: string): Promise<TaskHandle | undefined> {
    const running = this.#runtime.get(this.#owner, allocId);
    if (running) return handleOf(running);
    const exited = this.#runtime.exited(this.#owner, allocId);
    return exited && handleOf(exited.workload, exited.exitCode);
  }

  async list(): Promise<TaskHandle[]> {
    return [
      ...this.#runtime.list(this.#owner).map((w) => handleOf(w)),
      ...this.#runtime.listExited(this.#owner).map((e) => handleOf(e.workload, e.exitCode)),
    ];
  }

  async *logs(allocId: string, options: LogOptions = {}): AsyncIterable<LogLine> {
    const lines = this.#runtime
      .output(this.#workload(allocId))
      .filter((l) => options.stream === undefined || l.stream === options.stream);
    yield* options.tail === undefined ? lines : lines.slice(Math.max(0, lines.length - options.tail));
  }

  async stats(allocId: string): Promise<TaskStats | undefined> {
    return this.#runtime.get(this.#owner, allocId) ? { cpuSeconds: 0, memoryBytes: 0 } : undefined;
  }

  /** Simulated workloads have no process to signal: a signal changes nothing, as for one that ignores it. */
  async signal(_allocId: string, _signal: NodeJS.Signals): Promise<void> {}

  async exec(allocId: string, _command: readonly string[], _options?: CallOptions): Promise<ExecResult> {
    this.#workload(allocId);
    return { exitCode: 0, output: '' };
  }

  async close(): Promise<void> {}

  #workload(allocId: string): Workload {
    const workload =
      this.#runtime.get(this.#owner, allocId) ?? this.#runtime.exited(this.#owner, allocId)?.workload;
    if (!workload) {
      throw new DriverError(
        'not-found',
        `no workload for alloc ${allocId}`,
        'list() shows what this agent runs',
      );
    }
    return workload;
  }
}
