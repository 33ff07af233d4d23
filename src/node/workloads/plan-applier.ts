/**
 * Turns this node's plans into alloc runners: stops, then starts, one plan at a time. A plan given while one
 * runs replaces any plan still waiting, and every caller's promise settles when the newest plan is done. An
 * alloc that already has a runner is never started again, so concurrent or repeated plans cannot start one
 * twice. Also the one place that asks the drivers what runs: at start-up, to adopt what an earlier agent
 * left running, and on a poll, since drivers have no exit events.
 */
import type { AllocStatus } from '../../crdt/records.js';
import type { DesiredAlloc, Plan, SchedAllocation } from '../../scheduler/types.js';
import type { TaskHandle } from '../drivers/driver.js';
import { type AllocIdentity, AllocRunner } from './alloc-runner.js';
import { withDeadline } from './call-deadline.js';
import { type FinishedGcPolicy, finishedToCollect } from './finished-gc.js';
import type { RunnerContext } from './runner-context.js';

export interface PlanApplierOptions {
  readonly resolveSpec: (job: string, version: number) => AllocIdentity['spec'];
  readonly pollMs: number;
  /** When finished copies (failed, complete, stopped) and what their drivers keep are removed. */
  readonly finishedGc: FinishedGcPolicy;
}

export class PlanApplier {
  private readonly runners = new Map<string, AllocRunner>();
  private readonly ctx: RunnerContext;
  private ready: Promise<void> = Promise.resolve();
  private pendingPlan: Plan | undefined;
  private applying: Promise<void> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  /** Removals of collected copies under way, so a poll does not start the same one twice. */
  private collecting = new Set<string>();

  constructor(
    ctx: Omit<RunnerContext, 'finished'>,
    private readonly options: PlanApplierOptions,
  ) {
    this.ctx = { ...ctx, finished: () => this.forgetFinished() };
  }

  private get closed(): boolean {
    return this.ctx.closing.aborted;
  }

  runner(allocId: string): AllocRunner | undefined {
    return this.runners.get(allocId);
  }

  start(previous: readonly AllocStatus[]): Promise<void> {
    this.ready = this.adoptAll(previous).then(() => {
      if (this.closed) return;
      this.pollTimer = setInterval(() => void this.poll(), this.options.pollMs);
      this.pollTimer.unref();
    });
    return this.ready;
  }

  apply(plan: Plan): Promise<void> {
    this.pendingPlan = plan;
    this.applying ??= this.drain();
    return this.applying;
  }

  /** The caller has aborted `closing`: let what runs settle, and arm nothing new. */
  async close(): Promise<void> {
    clearInterval(this.pollTimer);
    this.pendingPlan = undefined;
    await this.applying;
    for (const r of this.runners.values()) r.close();
    await Promise.all([...this.runners.values()].map((r) => r.idle));
  }

  private async drain(): Promise<void> {
    try {
      await this.ready;
      while (this.pendingPlan && !this.closed) {
        const plan = this.pendingPlan;
        this.pendingPlan = undefined;
        // Stops first: they free the resources the starts were placed against.
        await Promise.all(plan.stop.map((a) => this.stopAlloc(a)));
        await Promise.all([
          ...plan.start.map((d) => this.startAlloc(d)),
          ...plan.keep
            .filter((d) => d.status === 'run' && !this.runners.has(d.allocId))
            .map((d) => this.startAlloc(d)),
        ]);
      }
    } finally {
      // No await between the loop's last check and here, so no plan can slip in unprocessed.
      this.applying = undefined;
    }
  }

  /** A new runner; one the alloc had before is replaced, and the alloc counts as touched last. */
  private track(id: AllocIdentity): AllocRunner {
    const runner = new AllocRunner(this.ctx, id);
    this.runners.delete(id.allocId);
    this.runners.set(id.allocId, runner);
    return runner;
  }

  /**
   * Applies the finished-copy GC policy: a collected copy's driver remains are removed, then its runner is
   * forgotten. Runs when a copy finishes (the count limits) and on every poll (the age limit).
   */
  private forgetFinished(): void {
    if (this.closed) return;
    const finished: { allocId: string; job: string; finishedAt: number }[] = [];
    for (const r of this.runners.values())
      if (r.isFinished && !this.collecting.has(r.allocId))
        finished.push({ allocId: r.allocId, job: r.job, finishedAt: r.finishedAt ?? this.ctx.now() });
    for (const allocId of finishedToCollect(finished, this.ctx.now(), this.options.finishedGc)) {
      const runner = this.runners.get(allocId);
      if (!runner) continue;
      this.collecting.add(allocId);
      void runner.remove().then((removed) => {
        this.collecting.delete(allocId);
        // Kept when the driver failed: the next poll tries again. A new runner may have taken the id
        // meanwhile (a stopped copy placed here again): that one stays.
        if (removed && this.runners.get(allocId) === runner) this.runners.delete(allocId);
      });
    }
  }

  private async adoptAll(previous: readonly AllocStatus[]): Promise<void> {
    const known = new Map(previous.filter((s) => s.node === this.ctx.self).map((s) => [s.allocId, s]));
    for (const [name, driver] of this.ctx.drivers) {
      let handles: TaskHandle[];
      try {
        handles = await withDeadline(`list ${name}`, this.ctx.callTimeoutMs, this.ctx.closing, (signal) =>
          driver.list({ signal }),
        );
      } catch (err) {
        // Not fatal: a plan's start or keep adopts through the driver once it answers.
        this.ctx.log.warn({ driver: name, err }, 'cannot list workloads to adopt');
        continue;
      }
      for (const h of handles) {
        if (this.runners.has(h.allocId)) continue;
        const spec = this.options.resolveSpec(h.job, h.jobVersion);
        const runner = this.track({
          allocId: h.allocId,
          job: h.job,
          jobVersion: h.jobVersion,
          spec,
          driver: name,
        });
        await runner.adopt(h, known.get(h.allocId));
      }
    }
  }

  private async startAlloc(d: DesiredAlloc): Promise<void> {
    const existing = this.runners.get(d.allocId);
    // Failed and completed allocs stay as they are: placement replaces a failed copy under a new id.
    if (existing && existing.phase !== 'stopped') return;
    const spec = this.options.resolveSpec(d.job, d.jobVersion);
    const id = { allocId: d.allocId, job: d.job, jobVersion: d.jobVersion, spec };
    await this.track({ ...id, driver: spec?.driver ?? 'exec' }).place();
  }

  private async stopAlloc(a: SchedAllocation): Promise<void> {
    const runner = this.runners.get(a.allocId);
    if (!runner) return this.stopUnknown(a);
    await runner.stop();
  }

  /** A live record with nothing behind it here (e.g. written before a crash): clean up and correct it. */
  private async stopUnknown(a: SchedAllocation): Promise<void> {
    const spec = this.options.resolveSpec(a.job, a.jobVersion);
    const names = spec ? [spec.driver] : [...this.ctx.drivers.keys()];
    const { callTimeoutMs, stopGraceMs, closing } = this.ctx;
    for (const name of names) {
      const driver = this.ctx.drivers.get(name);
      if (!driver) continue;
      try {
        await this.ctx.slots.run(() =>
          withDeadline(`stop ${a.allocId}`, callTimeoutMs + stopGraceMs, closing, (signal) =>
            driver.stop(a.allocId, { signal, graceMs: stopGraceMs }),
          ),
        );
      } catch (err) {
        this.ctx.log.warn({ allocId: a.allocId, err }, 'stop failed; the next plan retries it');
        return;
      }
    }
    const id = { allocId: a.allocId, job: a.job, jobVersion: a.jobVersion, spec };
    this.track({ ...id, driver: 'exec' }).recordStopped(a);
  }

  private async poll(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    this.forgetFinished();
    try {
      for (const [name, driver] of this.ctx.drivers) {
        const watched = [...this.runners.values()].filter((r) => r.driver === name && r.phase === 'running');
        if (watched.length === 0) continue;
        const runs = new Map(watched.map((r) => [r, r.run]));
        let handles: TaskHandle[];
        try {
          handles = await withDeadline(`list ${name}`, this.ctx.callTimeoutMs, this.ctx.closing, (signal) =>
            driver.list({ signal }),
          );
        } catch (err) {
          this.ctx.log.warn({ driver: name, err }, 'cannot list workloads');
          continue;
        }
        const byId = new Map(handles.map((h) => [h.allocId, h]));
        for (const [r, run] of runs) r.observed(run, byId.get(r.allocId));
      }
    } finally {
      this.polling = false;
    }
  }
}
