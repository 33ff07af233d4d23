import type {
  Driver,
  ExecResult,
  LogLine,
  TaskHandle,
  TaskSpecFor,
  TaskStats,
} from '../../src/node/drivers/driver.js';
import { handleOf, type SimRuntime } from './sim-runtime.js';

/**
 * The `exec` driver as far as the reconciler can tell, with workloads that live in a SimRuntime instead of the
 * process table: they start at once, never exit on their own, and pass every exec health check.
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
    const w = this.#runtime.get(this.#owner, allocId);
    return w ? handleOf(w) : undefined;
  }

  async list(): Promise<TaskHandle[]> {
    return this.#runtime.list(this.#owner).map(handleOf);
  }

  async *logs(): AsyncIterable<LogLine> {}

  async stats(allocId: string): Promise<TaskStats | undefined> {
    return this.#runtime.get(this.#owner, allocId) ? { cpuSeconds: 0, memoryBytes: 0 } : undefined;
  }

  async exec(): Promise<ExecResult> {
    return { exitCode: 0, output: '' };
  }

  async close(): Promise<void> {}
}
