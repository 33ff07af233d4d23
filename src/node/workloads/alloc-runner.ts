/**
 * One copy of a job on this node, from placement to its end (Nomad's alloc runner): start it through its
 * driver, restart it by the job's restart policy when it exits or its checks give up, report each status
 * transition, and judge it once for rollouts. Every driver call for the copy goes through one lock, in order,
 * and every start and check carries the number of the run it belongs to, so a poll or a check that began
 * before a restart can never act on the new run.
 */
import type { JobSpec } from '../../crdt/job-spec.js';
import type { AllocStatus } from '../../crdt/records.js';
import { errorMessage } from '../../lib/error-message.js';
import type { SchedAllocation } from '../../scheduler/types.js';
import type { Driver, DriverName, TaskHandle } from '../drivers/driver.js';
import type { AllocEventKind } from './alloc-events.js';
import type { StatusPatch } from './alloc-status.js';
import { withDeadline } from './call-deadline.js';
import { checkFor, HealthTracker, type HealthWatch } from './health-tracker.js';
import { decideRestart, restartsInWindow } from './restart-policy.js';
import { VerdictTimers, verdictOf } from './rollout-verdict.js';
import type { AllocIdentity, RunnerContext } from './runner-context.js';
import { StatusReporter } from './status-reporter.js';
import { taskSpecFor } from './task-spec.js';

export type Phase = 'starting' | 'running' | 'waiting' | 'stopping' | 'failed' | 'complete' | 'stopped';

const FINISHED: ReadonlySet<Phase> = new Set(['failed', 'complete', 'stopped']);

function describeExit(exitCode: number | undefined): string {
  return exitCode === undefined ? 'exited (exit code unknown)' : `exited with code ${exitCode}`;
}

export class AllocRunner {
  readonly allocId: string;
  readonly job: string;
  readonly jobVersion: number;
  readonly driver: DriverName;
  private readonly spec: JobSpec | undefined;
  private phaseNow: Phase = 'starting';
  /** Increments at every start: what a poll, check or timer compares before it acts. */
  private runNow = 0;
  /** Times of restarts still inside the policy's interval. */
  private restarts: number[] = [];
  private readonly reporter: StatusReporter;
  private lockNow: Promise<void> = Promise.resolve();
  private restartTimer: NodeJS.Timeout | undefined;
  /** Wall-clock ms when the copy reached a final phase: the finished-copy GC ages it from here. */
  private finishedAtNow: number | undefined;
  private readonly health: HealthTracker;
  private readonly verdict: VerdictTimers;

  constructor(
    private readonly ctx: RunnerContext,
    id: AllocIdentity,
  ) {
    this.allocId = id.allocId;
    this.job = id.job;
    this.jobVersion = id.jobVersion;
    this.spec = id.spec;
    this.driver = id.driver;
    this.reporter = new StatusReporter({ ...id, node: ctx.self }, ctx);
    const driver = ctx.drivers.get(id.driver);
    this.health = new HealthTracker(
      checkFor(id.spec),
      (id.spec?.health?.interval ?? 0) * ctx.healthIntervalScale,
      Math.max(1, ctx.checkRestartLimit),
      driver ? (command, signal) => driver.exec(this.allocId, command, { signal }) : undefined,
    );
    this.verdict = new VerdictTimers(id.spec?.update, ctx.now(), ctx.now);
  }

  get phase(): Phase {
    return this.phaseNow;
  }

  get run(): number {
    return this.runNow;
  }

  get status(): AllocStatus | undefined {
    return this.reporter.current;
  }

  get isFinished(): boolean {
    return FINISHED.has(this.phaseNow);
  }

  get finishedAt(): number | undefined {
    return this.finishedAtNow;
  }

  /** Settles when every driver call queued so far is done. */
  get idle(): Promise<void> {
    return this.lockNow;
  }

  /** The plan placed the alloc here: start it, or fail at once when this node cannot run it. */
  async place(): Promise<void> {
    this.event('placed');
    this.reporter.apply({ state: 'pending' });
    this.armDeadline();
    if (!this.spec) return this.fail(`job ${this.job} version ${this.jobVersion} is not known on this node`);
    if (!this.ctx.drivers.has(this.spec.driver))
      return this.fail(`this node has no ${this.spec.driver} driver`);
    await this.locked(() => this.launch());
  }

  /**
   * Takes on a workload the driver already runs (an agent restart). `before` is the status this node last
   * wrote for it: adoption writes nothing when the workload still runs as recorded, and the restart count
   * carries over.
   */
  async adopt(h: TaskHandle, before: AllocStatus | undefined): Promise<void> {
    const same = before !== undefined && before.job === h.job && before.jobVersion === h.jobVersion;
    if (same) this.reporter.known(before);
    this.runNow = 1;
    // An exited copy this node already recorded as finished is kept for its logs, not judged again: the exit
    // code may be unknown by now (a process adopted after a restart), which would restart a batch job done.
    if (same && h.state === 'exited' && (before.state === 'complete' || before.state === 'failed')) {
      this.event('adopted', `${this.driver} ${h.ref}, finished`);
      this.phaseNow = before.state;
      this.finishedAtNow = before.finishedAt ?? this.ctx.now();
      this.close();
      return;
    }
    this.phaseNow = 'running';
    if (this.spec) this.ctx.setup.adopt(this.copy(this.spec), same ? before.ports : undefined);
    if (h.state === 'running') {
      this.event('adopted', `${this.driver} ${h.ref}`);
      this.reporter.apply({ state: 'running', startedAt: h.startedAt });
      this.armDeadline();
      this.settleWithoutCheck();
      this.scheduleHealth();
      this.following();
    } else {
      await this.locked(() => this.onExit(h.exitCode, `${describeExit(h.exitCode)} while unwatched`, true));
    }
  }

  /** What the driver lists for run `run` (undefined: nothing); an ended workload goes to the restart policy. */
  observed(run: number, h: TaskHandle | undefined): void {
    if (h?.state === 'running') return;
    void this.locked(() => {
      if (this.phaseNow !== 'running' || this.runNow !== run) return;
      return this.onExit(h?.exitCode, h ? describeExit(h.exitCode) : 'the workload disappeared');
    });
  }

  /** The plan no longer places the alloc here. A stop that fails leaves it as it was: the next plan retries. */
  stop(): Promise<void> {
    return this.locked(async () => {
      if (this.isFinished) return;
      const phase = this.phaseNow;
      this.phaseNow = 'stopping';
      clearTimeout(this.restartTimer);
      this.health.stop();
      this.verdict.breakRun();
      try {
        await this.ctx.slots.run(() => this.stopWorkload());
      } catch (err) {
        this.phaseNow = phase;
        if (phase === 'running') {
          this.settleWithoutCheck();
          this.scheduleHealth();
        }
        if (phase === 'waiting') this.scheduleRestart(0);
        this.ctx.log.warn({ allocId: this.allocId, err }, 'stop failed; the next plan retries it');
        return;
      }
      this.stopped();
    });
  }

  /** An operator's restart (`meshctl alloc restart`). Resolves undefined once started again, or with why not. */
  restartByOperator(): Promise<string | undefined> {
    return this.restartOutsidePolicy('by an operator (meshctl alloc restart)');
  }

  /**
   * The workload stopped and started again now, as a new run (an operator's restart, a change of a template it
   * renders). Not a failure: the restart policy's budget and the reported restart count stay as they were. With
   * `run`, only while that run is still the one running. A stop that fails leaves the run as it was.
   */
  private restartOutsidePolicy(why: string, run?: number): Promise<string | undefined> {
    let refusal: string | undefined;
    return this.locked(async () => {
      const phase = this.phaseNow;
      if (run !== undefined && (this.closed || phase !== 'running' || this.runNow !== run)) return;
      if (phase !== 'running' && phase !== 'waiting') {
        refusal = `it is ${phase}, not running`;
        return;
      }
      clearTimeout(this.restartTimer);
      this.health.stop();
      this.verdict.breakRun();
      try {
        await this.ctx.slots.run(() => this.stopWorkload());
      } catch (err) {
        refusal = `stopping it failed: ${errorMessage(err)}`;
        this.ctx.log.warn({ allocId: this.allocId, why, err }, 'cannot restart the copy: its stop failed');
        if (phase === 'waiting') return this.scheduleRestart(0);
        this.settleWithoutCheck();
        return this.scheduleHealth();
      }
      await this.launch(why);
    }).then(() => refusal);
  }

  /**
   * The finished-copy GC collects this copy: remove what its driver keeps (container, process record and
   * logs). Resolves true once nothing is left; false when the driver failed (logged), so the GC tries again.
   */
  async remove(): Promise<boolean> {
    let removed = false;
    await this.locked(async () => {
      if (!this.isFinished) return;
      try {
        // A stopped copy's workload went with the stop: nothing is left to remove.
        if (this.phaseNow !== 'stopped') await this.stopWorkload();
        this.event('removed', 'finished-copy garbage collection');
        removed = true;
      } catch (err) {
        this.ctx.log.warn(
          { allocId: this.allocId, err },
          'cannot remove a finished workload; retrying later',
        );
      }
    });
    return removed;
  }

  /**
   * A live record with nothing behind it here (written before a crash), whose workload the caller has
   * already stopped: correct the record.
   */
  recordStopped(a: SchedAllocation): void {
    this.reporter.known({
      allocId: a.allocId,
      job: a.job,
      jobVersion: a.jobVersion,
      node: this.ctx.self,
      state: a.state,
      health: a.health,
      startedAt: a.startedAt,
      restarts: a.restarts,
    });
    this.stopped();
  }

  /** The reconciler closes: no timer may act any more. Workloads keep running. */
  close(): void {
    this.ctx.setup.paused(this.allocId);
    clearTimeout(this.restartTimer);
    this.health.stop();
    this.verdict.clear();
  }

  private get closed(): boolean {
    return this.ctx.closing.aborted;
  }

  private driverImpl(): Driver {
    const driver = this.ctx.drivers.get(this.driver);
    if (!driver) throw new Error(`this node has no ${this.driver} driver`);
    return driver;
  }

  private locked(fn: () => Promise<void> | void): Promise<void> {
    const next = this.lockNow.then(fn).catch((err: unknown) => {
      this.ctx.log.error({ allocId: this.allocId, err }, 'reconciler step failed');
    });
    this.lockNow = next;
    return next;
  }

  private event(kind: AllocEventKind, reason?: string): void {
    this.ctx.history.record(this.allocId, kind, this.ctx.now(), reason);
    this.ctx.log.info({ allocId: this.allocId, event: kind, reason }, `alloc ${kind}`);
  }

  /** `reporter.apply(patch)` with the alloc's one verdict, unless it has one already: one report, not two. */
  private judge(healthy: boolean, reason: string | undefined, patch: StatusPatch = {}): void {
    this.verdict.settle();
    if (this.reporter.current?.verdict !== undefined) {
      this.reporter.apply(patch);
      return;
    }
    this.ctx.log.info({ allocId: this.allocId, healthy, reason }, 'alloc judged');
    this.reporter.apply({ ...patch, verdict: verdictOf(healthy, this.ctx.now(), reason) });
  }

  private armDeadline(): void {
    this.verdict.armDeadline(this.reporter.current?.verdict !== undefined, (reason) => {
      if (this.isFinished || this.phaseNow === 'stopping') return;
      this.judge(false, reason);
    });
  }

  /** A run of passing checks (or, without a check, of running) began: healthy after `minHealthyTime`. */
  private startHealthyRun(): void {
    const run = this.runNow;
    this.verdict.startHealthyRun(this.reporter.current?.verdict !== undefined, () => {
      if (this.phaseNow === 'running' && this.runNow === run) this.judge(true, undefined);
    });
  }

  private settleWithoutCheck(): void {
    if (!this.spec?.health) this.startHealthyRun();
  }

  private scheduleHealth(): void {
    if (!this.spec?.health || this.closed) return;
    const run = this.runNow;
    const watch: HealthWatch = {
      current: () => !this.closed && this.phaseNow === 'running' && this.runNow === run,
      passed: () => {
        if (this.reporter.current?.health !== 'healthy') this.event('healthy');
        this.reporter.apply({ health: 'healthy' });
        this.startHealthyRun();
      },
      failed: (reason) => {
        if (this.reporter.current?.health !== 'unhealthy') this.event('unhealthy', reason);
        this.judge(false, `health check failed: ${reason}`, { health: 'unhealthy' });
      },
      exhausted: (reason) =>
        this.locked(async () => {
          if (this.phaseNow !== 'running' || this.runNow !== run) return;
          // A live but unhealthy workload must be killed before the restart, or the driver would adopt it.
          await this.cleanUp();
          await this.onExit(undefined, reason);
        }),
    };
    this.health.schedule(watch);
  }

  private fail(reason: string, ended: StatusPatch = { finishedAt: this.ctx.now() }): void {
    this.event('failed', reason);
    this.judge(false, reason, { state: 'failed', lastError: reason, ...ended });
    this.finish('failed');
  }

  private stopped(): void {
    this.event('stopped', 'no longer placed on this node');
    this.reporter.apply({ state: 'complete' });
    this.finish('stopped');
  }

  private finish(phase: 'failed' | 'complete' | 'stopped'): void {
    this.phaseNow = phase;
    this.finishedAtNow = this.reporter.current?.finishedAt ?? this.ctx.now();
    this.close();
    this.ctx.setup.ended(this.allocId);
    this.ctx.finished();
  }

  /** Runs under the lock. `persist` first: a workload never runs here unless its job and status are on disk. */
  private async launch(why?: string): Promise<void> {
    if (this.closed || this.isFinished || this.phaseNow === 'stopping' || !this.spec) return;
    const restart = this.runNow > 0;
    this.phaseNow = 'starting';
    this.runNow++;
    this.health.reset();
    let handle: TaskHandle;
    try {
      const prepared = await this.ctx.setup.prepare(this.copy(this.spec), this.reporter.current?.ports);
      const recorded = Object.keys(prepared.ports).length > 0 ? prepared.ports : undefined;
      this.reporter.apply({ state: 'starting', health: 'unknown', ports: recorded });
      const identity = { allocId: this.allocId, jobVersion: this.jobVersion, owner: this.ctx.self };
      const task = taskSpecFor(this.spec, { ...identity, node: this.ctx.selfNode, ...prepared });
      await this.persist();
      if (this.closed) return;
      const driver = this.driverImpl();
      handle = await this.ctx.slots.run(() =>
        withDeadline(`start ${this.allocId}`, this.ctx.startTimeoutMs, this.ctx.closing, (signal) =>
          driver.start(task, { signal }),
        ),
      );
    } catch (err) {
      // Closing: the next agent adopts or starts it; a failure now would be a lie.
      if (this.closed) return;
      return this.onExit(undefined, `start failed: ${errorMessage(err)}`);
    }
    this.phaseNow = 'running';
    this.event(restart ? 'restarted' : 'started', `${this.driver} ${handle.ref}${why ? `, ${why}` : ''}`);
    this.reporter.apply({ state: 'running', startedAt: handle.startedAt });
    if (handle.state === 'exited') return this.onExit(handle.exitCode, describeExit(handle.exitCode));
    this.settleWithoutCheck();
    this.scheduleHealth();
    this.following();
  }

  private copy(spec: JobSpec) {
    return { allocId: this.allocId, jobVersion: this.jobVersion, spec, driver: this.driver };
  }

  /** The run's templates follow their data; a change may restart it, outside the restart policy. */
  private following(): void {
    if (!this.spec) return;
    const run = this.runNow;
    const current = () => !this.closed && this.phaseNow === 'running' && this.runNow === run;
    const restart = () => void this.restartOutsidePolicy('a template it renders changed', run);
    const ports = this.reporter.current?.ports ?? {};
    this.ctx.setup.running({ ...this.copy(this.spec), ports, current, restart });
  }

  /** A disk that cannot be written must not keep workloads from running: the batched flush tries again. */
  private async persist(): Promise<void> {
    if (!this.ctx.persist) return;
    try {
      await this.ctx.persist();
    } catch (err) {
      this.ctx.log.warn({ allocId: this.allocId, err }, 'cannot persist the state before a start');
    }
  }

  /** The workload ended (or could not start): restart, fail or complete. Runs under the lock. */
  private async onExit(exitCode: number | undefined, reason: string, unwatched = false): Promise<void> {
    this.health.stop();
    this.ctx.setup.paused(this.allocId);
    // The next agent adopts what is left and judges it then.
    if (this.closed) return;
    if (!this.spec) {
      await this.cleanUp();
      return this.fail(`${reason}; job ${this.job} version ${this.jobVersion} is not known on this node`);
    }
    this.verdict.breakRun();
    const now = this.ctx.now();
    const policy = this.spec.restart;
    this.restarts = restartsInWindow(policy, this.restarts, now);
    const decision = decideRestart(
      policy,
      { jobType: this.spec.type, exitCode, unwatched },
      this.restarts,
      now,
      this.ctx.backoff,
    );
    // The workload has ended: what its driver keeps of it (container, process logs) stays for `alloc logs`
    // until the finished-copy GC removes it. Its exit code goes into the replicated status.
    const ended = { ...(exitCode === undefined ? {} : { exitCode }), finishedAt: now };
    switch (decision.action) {
      case 'complete':
        this.event('completed', reason);
        this.judge(true, undefined, { state: 'complete', ...ended });
        return this.finish('complete');
      case 'fail':
        return this.fail(`${reason}; ${decision.reason}`, ended);
      case 'restart': {
        this.restarts.push(decision.at);
        this.phaseNow = 'waiting';
        this.event('exited', `${reason}; ${decision.reason}`);
        this.judge(false, reason, {
          state: 'pending',
          health: 'unknown',
          restarts: (this.reporter.current?.restarts ?? 0) + 1,
          lastError: reason,
        });
        this.scheduleRestart(decision.at - now);
        return;
      }
    }
  }

  private scheduleRestart(delayMs: number): void {
    const run = this.runNow;
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(
      () =>
        void this.locked(() =>
          this.phaseNow === 'waiting' && this.runNow === run ? this.launch() : undefined,
        ),
      Math.max(0, delayMs),
    );
    this.restartTimer.unref();
  }

  private stopWorkload(): Promise<void> {
    const driver = this.driverImpl();
    const { callTimeoutMs, stopGraceMs, closing } = this.ctx;
    return withDeadline(`stop ${this.allocId}`, callTimeoutMs + stopGraceMs, closing, (signal) =>
      driver.stop(this.allocId, { signal, graceMs: stopGraceMs }),
    );
  }

  /** Removes what the driver keeps of a finished workload; a failure here is logged, not fatal. */
  private async cleanUp(): Promise<void> {
    try {
      await this.stopWorkload();
    } catch (err) {
      this.ctx.log.warn({ allocId: this.allocId, err }, 'cannot remove a finished workload');
    }
  }
}
