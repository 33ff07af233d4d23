/**
 * The local reconciler: turns the scheduler's plan for this node into driver calls and watches what runs.
 *
 *   new Reconciler({ self, drivers, resolveSpec, report, now, log })
 *   await r.start(previousStatuses)  adopt what the drivers already run for this owner, then watch
 *   await r.apply(plan)              stop, start, keep; idempotent and serialised
 *   r.status(allocId), r.events(allocId), await r.close()
 *
 * - `apply` runs one plan at a time; a plan given while one runs replaces any plan still waiting, and every
 *   caller's promise settles when the newest plan is done. An alloc this reconciler already holds is never
 *   started again, so concurrent or repeated plans cannot start one twice.
 * - start: pending → starting → running. stop: → complete (and the alloc may be started afresh later).
 *   keep: nothing, unless the alloc is unknown here (a driver did not answer at start-up): then the driver's
 *   start, which adopts a running workload instead of restarting it.
 * - Workloads are watched by polling `driver.list()` (there are no exit events); an exit goes through the
 *   restart policy (restart-policy.ts): pending with `restarts` + 1, then starting → running again, or
 *   failed with the reason. A batch job that exits 0 is complete. Terminal workloads are removed from the
 *   driver; their events stay in the ring.
 * - Health checks run at the job's interval (times `healthIntervalScale`). The first failing check turns
 *   health unhealthy; `checkRestartLimit` failing checks in a row (default 3) kill the workload and count as
 *   an exit toward the restart policy, as Nomad's check_restart with `limit = 3` does.
 * - `persist` is awaited before every driver start, so a workload never runs on this device unless its job
 *   spec and its status are on disk: after a crash the agent knows what it adopts (offline autonomy too).
 * - `report` is called on transitions only: every status differs from the one before it for that alloc.
 *   `start(previous)` takes the statuses this node last wrote so that adoption writes nothing when the
 *   workload still runs as recorded, and restart counts carry over an agent restart (the times of earlier
 *   restarts do not: the restart window starts afresh).
 * - Verdict (rollouts, scheduler/rollout.ts): each alloc is judged once, by this node's clock, and the verdict
 *   rides in its status from then on: healthy once it has passed every check (or, without a check, run) for
 *   its version's `update.minHealthyTime`; unhealthy at the first failing check, exit or failure before that,
 *   or when `update.healthyDeadline` passes from placement (from adoption after an agent restart) without it.
 * - Bounded: at most `maxConcurrentCalls` driver starts and stops at once, a deadline on every driver call, one
 *   health check in flight per alloc, a ring of events per alloc, a cap on finished allocs remembered.
 */
import type { JobSpec } from '../../crdt/job-spec.js';
import type { AllocStatus } from '../../crdt/records.js';
import type { Logger } from '../../lib/logger.js';
import type { DesiredAlloc, Plan, SchedAllocation } from '../../scheduler/types.js';
import type { Driver, DriverName, TaskHandle } from '../drivers/driver.js';
import { type AllocEvent, type AllocEventKind, AllocEvents } from './alloc-events.js';
import { type CheckResult, type HealthCheck, runCheck } from './health-check.js';
import { type Backoff, DEFAULT_BACKOFF, decideRestart, restartsInWindow } from './restart-policy.js';
import { taskSpecFor } from './task-spec.js';

export interface ReconcilerOptions {
  /** Peer id of this node: the owner the drivers were built for. */
  readonly self: string;
  readonly drivers: ReadonlyMap<DriverName, Driver>;
  readonly resolveSpec: (job: string, version: number) => JobSpec | undefined;
  /** Called on every transition of an alloc's status; the caller writes it with MeshState.putAllocStatus. */
  readonly report: (status: AllocStatus) => void;
  /**
   * Makes the replicated state durable (the job spec and the statuses reported so far); awaited before every
   * driver start. Without it, a crash soon after a start leaves a replica that has never heard of the job
   * running here: the restarted agent adopts the workload, finds no job for it, and stops it as orphaned.
   */
  readonly persist?: () => Promise<void>;
  readonly now: () => number;
  readonly log: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  /** Multiplies health check intervals; tests and the simulator shrink them below the spec's 1 s minimum. */
  readonly healthIntervalScale?: number;
  readonly pollMs?: number;
  /** Driver starts and plan stops running at once. */
  readonly maxConcurrentCalls?: number;
  readonly checkRestartLimit?: number;
  /** Deadline for a start, which may include an image pull. */
  readonly startTimeoutMs?: number;
  /** Deadline for list, inspect and stop calls (a stop's grace is added). */
  readonly callTimeoutMs?: number;
  readonly stopGraceMs?: number;
  readonly backoff?: Backoff;
  readonly eventsPerAlloc?: number;
  /** Finished allocs (failed, complete, stopped) whose status and events are kept. */
  readonly maxFinished?: number;
}

type Phase = 'starting' | 'running' | 'waiting' | 'stopping' | 'failed' | 'complete' | 'stopped';

/** The status schema's limit: a longer reason would make the whole status unwritable. */
const MAX_VERDICT_REASON = 1_024;

const FINISHED: ReadonlySet<Phase> = new Set(['failed', 'complete', 'stopped']);

interface Tracked {
  readonly allocId: string;
  readonly job: string;
  readonly jobVersion: number;
  readonly spec: JobSpec | undefined;
  readonly driver: DriverName;
  phase: Phase;
  /** Increments at every start, so a poll or a check that began before it cannot act on the new run. */
  run: number;
  ref: string | undefined;
  /** Times of restarts still inside the policy's interval. */
  restarts: number[];
  /** This node's view of the alloc, shown locally; it runs ahead of `reported` while the state refuses writes. */
  status: AllocStatus | undefined;
  /** The status the replicated state last accepted for the alloc. */
  reported: AllocStatus | undefined;
  healthFailures: number;
  /** Every driver call for one alloc goes through this chain, in order. */
  lock: Promise<void>;
  restartTimer: NodeJS.Timeout | undefined;
  healthTimer: NodeJS.Timeout | undefined;
  /** When this node took the alloc on: `healthyDeadline` counts from here. */
  placedAt: number;
  /** Start of the current unbroken run of passing checks, while no verdict is written. */
  healthySince: number | undefined;
  verdictTimer: NodeJS.Timeout | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
}

class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    while (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function describeExit(exitCode: number | undefined): string {
  return exitCode === undefined ? 'exited (exit code unknown)' : `exited with code ${exitCode}`;
}

/**
 * Runs a driver call under a deadline that holds even when the driver ignores its signal; `closing` aborts it
 * early, so closing the reconciler never waits on a long image pull.
 */
function withDeadline<T>(
  what: string,
  ms: number,
  closing: AbortSignal,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timeout = AbortSignal.timeout(ms);
  const signal = AbortSignal.any([timeout, closing]);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () =>
      reject(new Error(timeout.aborted ? `${what} took over ${ms} ms` : `${what}: the reconciler closed`));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    fn(signal)
      .then(resolve, reject)
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function sameStatus(a: AllocStatus, b: AllocStatus): boolean {
  return (
    a.allocId === b.allocId &&
    a.job === b.job &&
    a.jobVersion === b.jobVersion &&
    a.node === b.node &&
    a.state === b.state &&
    a.health === b.health &&
    a.startedAt === b.startedAt &&
    a.restarts === b.restarts &&
    a.lastError === b.lastError &&
    a.verdict?.healthy === b.verdict?.healthy &&
    a.verdict?.at === b.verdict?.at &&
    a.verdict?.reason === b.verdict?.reason
  );
}

export class Reconciler {
  private readonly tracked = new Map<string, Tracked>();
  private readonly history: AllocEvents;
  private readonly slots: Limiter;
  private readonly scale: number;
  private readonly pollMs: number;
  private readonly checkRestartLimit: number;
  private readonly startTimeoutMs: number;
  private readonly callTimeoutMs: number;
  private readonly stopGraceMs: number;
  private readonly maxFinished: number;
  private ready: Promise<void> = Promise.resolve();
  private pendingPlan: Plan | undefined;
  private applying: Promise<void> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private closed = false;
  private readonly closing = new AbortController();

  constructor(private readonly options: ReconcilerOptions) {
    this.history = new AllocEvents({ perAlloc: options.eventsPerAlloc ?? 16 });
    this.slots = new Limiter(options.maxConcurrentCalls ?? 4);
    this.scale = options.healthIntervalScale ?? 1;
    this.pollMs = options.pollMs ?? 1_000;
    this.checkRestartLimit = Math.max(1, options.checkRestartLimit ?? 3);
    this.startTimeoutMs = options.startTimeoutMs ?? 15 * 60_000;
    this.callTimeoutMs = options.callTimeoutMs ?? 15_000;
    this.stopGraceMs = options.stopGraceMs ?? 5_000;
    this.maxFinished = options.maxFinished ?? 256;
  }

  /** Adopts what the drivers run for this owner, then starts watching. Call once, before `apply`. */
  start(previous: readonly AllocStatus[] = []): Promise<void> {
    this.ready = this.adoptAll(previous).then(() => {
      if (this.closed) return;
      this.pollTimer = setInterval(() => void this.poll(), this.pollMs);
      this.pollTimer.unref();
    });
    return this.ready;
  }

  apply(plan: Plan): Promise<void> {
    this.pendingPlan = plan;
    this.applying ??= this.drain();
    return this.applying;
  }

  /** This node's view of the alloc's status (what it reports, or tries to). */
  status(allocId: string): AllocStatus | undefined {
    return this.tracked.get(allocId)?.status;
  }

  /** Recent events of the alloc, oldest first. */
  events(allocId: string): AllocEvent[] {
    return this.history.list(allocId);
  }

  /** Stops watching; workloads keep running (an agent restart adopts them). */
  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    clearInterval(this.pollTimer);
    this.pendingPlan = undefined;
    await this.applying;
    for (const t of this.tracked.values()) {
      clearTimeout(t.restartTimer);
      clearTimeout(t.healthTimer);
      clearTimeout(t.verdictTimer);
      clearTimeout(t.deadlineTimer);
    }
    await Promise.all([...this.tracked.values()].map((t) => t.lock));
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
            .filter((d) => d.status === 'run' && !this.tracked.has(d.allocId))
            .map((d) => this.startAlloc(d)),
        ]);
      }
    } finally {
      // No await between the loop's last check and here, so no plan can slip in unprocessed.
      this.applying = undefined;
    }
  }

  private driverOf(t: Tracked): Driver {
    const driver = this.options.drivers.get(t.driver);
    if (!driver) throw new Error(`this node has no ${t.driver} driver`);
    return driver;
  }

  private track(fields: Pick<Tracked, 'allocId' | 'job' | 'jobVersion' | 'spec' | 'driver'>): Tracked {
    const t: Tracked = {
      ...fields,
      phase: 'starting',
      run: 0,
      ref: undefined,
      restarts: [],
      status: undefined,
      reported: undefined,
      healthFailures: 0,
      lock: Promise.resolve(),
      restartTimer: undefined,
      healthTimer: undefined,
      placedAt: this.options.now(),
      healthySince: undefined,
      verdictTimer: undefined,
      deadlineTimer: undefined,
    };
    this.tracked.delete(t.allocId);
    this.tracked.set(t.allocId, t);
    return t;
  }

  private locked(t: Tracked, fn: () => Promise<void> | void): Promise<void> {
    const next = t.lock.then(fn).catch((err: unknown) => {
      this.options.log.error({ allocId: t.allocId, err }, 'reconciler step failed');
    });
    t.lock = next;
    return next;
  }

  private event(t: Tracked, kind: AllocEventKind, reason?: string): void {
    this.history.record(t.allocId, kind, this.options.now(), reason);
    this.options.log.info({ allocId: t.allocId, event: kind, reason }, `alloc ${kind}`);
  }

  /** Reports the status with `patch` applied, unless nothing changed. */
  private transition(t: Tracked, patch: Partial<Omit<AllocStatus, 'allocId' | 'node'>>): void {
    const before = t.status;
    const merged = {
      job: t.job,
      jobVersion: t.jobVersion,
      state: 'pending' as const,
      health: 'unknown' as const,
      startedAt: this.options.now(),
      restarts: 0,
      ...before,
      ...patch,
    };
    const lastError = 'lastError' in patch ? patch.lastError : before?.lastError;
    const verdict = before?.verdict ?? patch.verdict;
    // Field by field: the caller's records may carry more than the contract's fields.
    const next: AllocStatus = {
      allocId: t.allocId,
      job: merged.job,
      jobVersion: merged.jobVersion,
      node: this.options.self,
      state: merged.state,
      health: merged.health,
      startedAt: merged.startedAt,
      restarts: merged.restarts,
      ...(lastError === undefined ? {} : { lastError }),
      ...(verdict === undefined ? {} : { verdict }),
    };
    t.status = next;
    if (t.reported && sameStatus(t.reported, next)) return;
    try {
      this.options.report(next);
      t.reported = next;
    } catch (err) {
      // Not taken as reported: the next transition writes the whole status again, rather than the replicated
      // state keeping a stale one (a copy stopped here but `starting` everywhere would never run again).
      this.options.log.error({ allocId: t.allocId, err, status: next }, 'could not report an alloc status');
    }
  }

  private finish(t: Tracked, phase: 'failed' | 'complete' | 'stopped'): void {
    t.phase = phase;
    clearTimeout(t.restartTimer);
    clearTimeout(t.healthTimer);
    clearTimeout(t.verdictTimer);
    clearTimeout(t.deadlineTimer);
    let finished = 0;
    for (const x of this.tracked.values()) if (FINISHED.has(x.phase)) finished++;
    for (const [id, x] of this.tracked) {
      if (finished <= this.maxFinished) break;
      if (FINISHED.has(x.phase)) {
        this.tracked.delete(id);
        finished--;
      }
    }
  }

  private async adoptAll(previous: readonly AllocStatus[]): Promise<void> {
    const known = new Map(previous.filter((s) => s.node === this.options.self).map((s) => [s.allocId, s]));
    for (const [name, driver] of this.options.drivers) {
      let handles: TaskHandle[];
      try {
        handles = await withDeadline(`list ${name}`, this.callTimeoutMs, this.closing.signal, (signal) =>
          driver.list({ signal }),
        );
      } catch (err) {
        // Not fatal: a plan's start or keep adopts through the driver once it answers.
        this.options.log.warn({ driver: name, err }, 'cannot list workloads to adopt');
        continue;
      }
      for (const h of handles) {
        if (this.tracked.has(h.allocId)) continue;
        const t = this.track({
          allocId: h.allocId,
          job: h.job,
          jobVersion: h.jobVersion,
          spec: this.options.resolveSpec(h.job, h.jobVersion),
          driver: name,
        });
        const before = known.get(h.allocId);
        if (before && before.job === h.job && before.jobVersion === h.jobVersion) {
          t.status = before;
          t.reported = before;
        }
        t.ref = h.ref;
        t.run = 1;
        t.phase = 'running';
        if (h.state === 'running') {
          this.event(t, 'adopted', `${name} ${h.ref}`);
          this.transition(t, { state: 'running', startedAt: h.startedAt });
          this.armDeadline(t);
          this.settleWithoutCheck(t);
          this.scheduleHealth(t);
        } else {
          await this.locked(t, () =>
            this.onExit(t, h.exitCode, `${describeExit(h.exitCode)} while unwatched`),
          );
        }
      }
    }
  }

  private async startAlloc(d: DesiredAlloc): Promise<void> {
    const existing = this.tracked.get(d.allocId);
    // Failed and completed allocs stay as they are: placement replaces a failed copy under a new id.
    if (existing && existing.phase !== 'stopped') return;
    const spec = this.options.resolveSpec(d.job, d.jobVersion);
    const t = this.track({
      allocId: d.allocId,
      job: d.job,
      jobVersion: d.jobVersion,
      spec,
      driver: spec?.driver ?? 'exec',
    });
    this.event(t, 'placed');
    this.transition(t, { state: 'pending' });
    this.armDeadline(t);
    if (!spec) return this.fail(t, `job ${d.job} version ${d.jobVersion} is not known on this node`);
    if (!this.options.drivers.has(spec.driver)) {
      return this.fail(t, `this node has no ${spec.driver} driver`);
    }
    await this.locked(t, () => this.launch(t));
  }

  private fail(t: Tracked, reason: string): void {
    this.event(t, 'failed', reason);
    this.judge(t, false, reason, { state: 'failed', lastError: reason });
    this.finish(t, 'failed');
  }

  /** Runs under the alloc's lock. */
  private async launch(t: Tracked): Promise<void> {
    if (this.closed || FINISHED.has(t.phase) || t.phase === 'stopping' || !t.spec) return;
    const restart = t.run > 0;
    t.phase = 'starting';
    t.run++;
    t.healthFailures = 0;
    this.transition(t, { state: 'starting', health: 'unknown' });
    const task = taskSpecFor(t.spec, {
      allocId: t.allocId,
      jobVersion: t.jobVersion,
      owner: this.options.self,
    });
    await this.persist(t);
    if (this.closed) return;
    let handle: TaskHandle;
    try {
      const driver = this.driverOf(t);
      handle = await this.slots.run(() =>
        withDeadline(`start ${t.allocId}`, this.startTimeoutMs, this.closing.signal, (signal) =>
          driver.start(task, { signal }),
        ),
      );
    } catch (err) {
      // Closing: the next agent adopts or starts it; a failure now would be a lie.
      if (this.closed) return;
      return this.onExit(t, undefined, `start failed: ${message(err)}`);
    }
    t.ref = handle.ref;
    t.phase = 'running';
    this.event(t, restart ? 'restarted' : 'started', `${t.driver} ${handle.ref}`);
    this.transition(t, { state: 'running', startedAt: handle.startedAt });
    if (handle.state === 'exited') return this.onExit(t, handle.exitCode, describeExit(handle.exitCode));
    this.settleWithoutCheck(t);
    this.scheduleHealth(t);
  }

  /** `transition(patch)` with the alloc's one verdict, unless it has one already: one report, not two. */
  private judge(
    t: Tracked,
    healthy: boolean,
    reason: string | undefined,
    patch: Partial<Omit<AllocStatus, 'allocId' | 'node'>> = {},
  ): void {
    clearTimeout(t.verdictTimer);
    clearTimeout(t.deadlineTimer);
    t.healthySince = undefined;
    if (t.status?.verdict !== undefined) {
      this.transition(t, patch);
      return;
    }
    this.options.log.info({ allocId: t.allocId, healthy, reason }, 'alloc judged');
    const at = this.options.now();
    const why = reason === undefined ? {} : { reason: reason.slice(0, MAX_VERDICT_REASON) };
    this.transition(t, { ...patch, verdict: { healthy, at, ...why } });
  }

  private armDeadline(t: Tracked): void {
    const update = t.spec?.update;
    if (!update || t.status?.verdict !== undefined || t.deadlineTimer !== undefined) return;
    const delay = t.placedAt + update.healthyDeadline - this.options.now();
    t.deadlineTimer = setTimeout(
      () => {
        if (FINISHED.has(t.phase) || t.phase === 'stopping') return;
        this.judge(t, false, `not healthy within healthyDeadline (${update.healthyDeadline} ms)`);
      },
      Math.max(0, delay),
    );
    t.deadlineTimer.unref();
  }

  /** A run of passing checks (or, without a check, of running) began: healthy after `minHealthyTime`. */
  private startHealthyRun(t: Tracked): void {
    const update = t.spec?.update;
    if (!update || t.status?.verdict !== undefined || t.healthySince !== undefined) return;
    const since = this.options.now();
    const run = t.run;
    t.healthySince = since;
    clearTimeout(t.verdictTimer);
    t.verdictTimer = setTimeout(() => {
      if (t.phase === 'running' && t.run === run && t.healthySince === since) this.judge(t, true, undefined);
    }, update.minHealthyTime);
    t.verdictTimer.unref();
  }

  private settleWithoutCheck(t: Tracked): void {
    if (!t.spec?.health) this.startHealthyRun(t);
  }

  /** A disk that cannot be written must not keep workloads from running: the batched flush tries again. */
  private async persist(t: Tracked): Promise<void> {
    if (!this.options.persist) return;
    try {
      await this.options.persist();
    } catch (err) {
      this.options.log.warn({ allocId: t.allocId, err }, 'cannot persist the state before a start');
    }
  }

  /** The workload ended (or could not start): restart, fail or complete. Runs under the alloc's lock. */
  private async onExit(t: Tracked, exitCode: number | undefined, reason: string): Promise<void> {
    clearTimeout(t.healthTimer);
    // The next agent adopts what is left and judges it then.
    if (this.closed) return;
    if (!t.spec) {
      await this.cleanUp(t);
      return this.fail(t, `${reason}; job ${t.job} version ${t.jobVersion} is not known on this node`);
    }
    clearTimeout(t.verdictTimer);
    t.healthySince = undefined;
    const now = this.options.now();
    const policy = t.spec.restart;
    t.restarts = restartsInWindow(policy, t.restarts, now);
    const decision = decideRestart(
      policy,
      { jobType: t.spec.type, exitCode },
      t.restarts,
      now,
      this.options.backoff ?? DEFAULT_BACKOFF,
    );
    switch (decision.action) {
      case 'complete':
        await this.cleanUp(t);
        this.event(t, 'completed', reason);
        this.judge(t, true, undefined, { state: 'complete' });
        return this.finish(t, 'complete');
      case 'fail':
        await this.cleanUp(t);
        return this.fail(t, `${reason}; ${decision.reason}`);
      case 'restart': {
        t.restarts.push(decision.at);
        t.phase = 'waiting';
        this.event(t, 'exited', `${reason}; ${decision.reason}`);
        this.judge(t, false, reason, {
          state: 'pending',
          health: 'unknown',
          restarts: (t.status?.restarts ?? 0) + 1,
          lastError: reason,
        });
        this.scheduleRestart(t, decision.at - now);
        return;
      }
    }
  }

  private scheduleRestart(t: Tracked, delayMs: number): void {
    const run = t.run;
    clearTimeout(t.restartTimer);
    t.restartTimer = setTimeout(
      () => void this.locked(t, () => (t.phase === 'waiting' && t.run === run ? this.launch(t) : undefined)),
      Math.max(0, delayMs),
    );
    t.restartTimer.unref();
  }

  /** Removes what the driver keeps of a finished workload; a failure here is logged, not fatal. */
  private async cleanUp(t: Tracked): Promise<void> {
    try {
      const driver = this.driverOf(t);
      await withDeadline(
        `stop ${t.allocId}`,
        this.callTimeoutMs + this.stopGraceMs,
        this.closing.signal,
        (signal) => driver.stop(t.allocId, { signal, graceMs: this.stopGraceMs }),
      );
    } catch (err) {
      this.options.log.warn({ allocId: t.allocId, err }, 'cannot remove a finished workload');
    }
  }

  private async stopAlloc(a: SchedAllocation): Promise<void> {
    const t = this.tracked.get(a.allocId);
    if (!t) return this.stopUnknown(a);
    await this.locked(t, async () => {
      if (FINISHED.has(t.phase)) return;
      const phase = t.phase;
      t.phase = 'stopping';
      clearTimeout(t.restartTimer);
      clearTimeout(t.healthTimer);
      clearTimeout(t.verdictTimer);
      t.healthySince = undefined;
      try {
        const driver = this.driverOf(t);
        await this.slots.run(() =>
          withDeadline(
            `stop ${t.allocId}`,
            this.callTimeoutMs + this.stopGraceMs,
            this.closing.signal,
            (signal) => driver.stop(t.allocId, { signal, graceMs: this.stopGraceMs }),
          ),
        );
      } catch (err) {
        // As it was, as far as anyone knows: the next plan asks again.
        t.phase = phase;
        if (phase === 'running') {
          this.settleWithoutCheck(t);
          this.scheduleHealth(t);
        }
        if (phase === 'waiting') this.scheduleRestart(t, 0);
        this.options.log.warn({ allocId: t.allocId, err }, 'stop failed; the next plan retries it');
        return;
      }
      this.event(t, 'stopped', 'no longer placed on this node');
      this.transition(t, { state: 'complete' });
      this.finish(t, 'stopped');
    });
  }

  /** A live record with nothing behind it here (e.g. written before a crash): clean up and correct it. */
  private async stopUnknown(a: SchedAllocation): Promise<void> {
    const spec = this.options.resolveSpec(a.job, a.jobVersion);
    const names = spec ? [spec.driver] : [...this.options.drivers.keys()];
    for (const name of names) {
      const driver = this.options.drivers.get(name);
      if (!driver) continue;
      try {
        await this.slots.run(() =>
          withDeadline(
            `stop ${a.allocId}`,
            this.callTimeoutMs + this.stopGraceMs,
            this.closing.signal,
            (signal) => driver.stop(a.allocId, { signal, graceMs: this.stopGraceMs }),
          ),
        );
      } catch (err) {
        this.options.log.warn({ allocId: a.allocId, err }, 'stop failed; the next plan retries it');
        return;
      }
    }
    const t = this.track({ allocId: a.allocId, job: a.job, jobVersion: a.jobVersion, spec, driver: 'exec' });
    t.status = {
      allocId: a.allocId,
      job: a.job,
      jobVersion: a.jobVersion,
      node: this.options.self,
      state: a.state,
      health: a.health,
      startedAt: a.startedAt,
      restarts: a.restarts,
    };
    t.reported = t.status;
    this.event(t, 'stopped', 'no longer placed on this node');
    this.transition(t, { state: 'complete' });
    this.finish(t, 'stopped');
  }

  private async poll(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      for (const [name, driver] of this.options.drivers) {
        const watched = [...this.tracked.values()].filter((t) => t.driver === name && t.phase === 'running');
        if (watched.length === 0) continue;
        const runs = new Map(watched.map((t) => [t, t.run]));
        let handles: TaskHandle[];
        try {
          handles = await withDeadline(`list ${name}`, this.callTimeoutMs, this.closing.signal, (signal) =>
            driver.list({ signal }),
          );
        } catch (err) {
          this.options.log.warn({ driver: name, err }, 'cannot list workloads');
          continue;
        }
        const byId = new Map(handles.map((h) => [h.allocId, h]));
        for (const [t, run] of runs) {
          const h = byId.get(t.allocId);
          if (h?.state === 'running') continue;
          void this.locked(t, () => {
            if (t.phase !== 'running' || t.run !== run) return;
            return this.onExit(t, h?.exitCode, h ? describeExit(h.exitCode) : 'the workload disappeared');
          });
        }
      }
    } finally {
      this.polling = false;
    }
  }

  private scheduleHealth(t: Tracked): void {
    const health = t.spec?.health;
    if (!health || this.closed) return;
    const run = t.run;
    clearTimeout(t.healthTimer);
    t.healthTimer = setTimeout(() => void this.checkHealth(t, run), health.interval * this.scale);
    t.healthTimer.unref();
  }

  private checkOf(t: Tracked): HealthCheck | undefined {
    const health = t.spec?.health;
    if (!health) return undefined;
    switch (health.type) {
      case 'exec':
        return { type: 'exec', command: health.command, timeoutMs: health.timeout };
      case 'tcp':
      case 'http': {
        // With bridge networking the check port names the container's port; it answers on the host's.
        const mapped =
          t.spec?.network === 'bridge' ? t.spec.ports.find((p) => p.container === health.port) : undefined;
        const port = mapped?.host ?? health.port;
        return health.type === 'tcp'
          ? { type: 'tcp', port, timeoutMs: health.timeout }
          : { type: 'http', port, path: health.path, timeoutMs: health.timeout };
      }
    }
  }

  private async checkHealth(t: Tracked, run: number): Promise<void> {
    const check = this.checkOf(t);
    if (!check || this.closed || t.phase !== 'running' || t.run !== run) return;
    const driver = this.options.drivers.get(t.driver);
    const result: CheckResult = await runCheck(check, {
      ...(driver ? { exec: (command, signal) => driver.exec(t.allocId, command, { signal }) } : {}),
    });
    if (this.closed || t.phase !== 'running' || t.run !== run) return;
    if (result.healthy) {
      t.healthFailures = 0;
      if (t.status?.health !== 'healthy') this.event(t, 'healthy');
      this.transition(t, { health: 'healthy' });
      this.startHealthyRun(t);
      return this.scheduleHealth(t);
    }
    t.healthFailures++;
    if (t.status?.health !== 'unhealthy') this.event(t, 'unhealthy', result.reason);
    this.judge(t, false, `health check failed: ${result.reason}`, { health: 'unhealthy' });
    if (t.healthFailures < this.checkRestartLimit) return this.scheduleHealth(t);
    const failures = t.healthFailures;
    await this.locked(t, async () => {
      if (t.phase !== 'running' || t.run !== run) return;
      // A live but unhealthy workload must be killed before the restart, or the driver would adopt it.
      await this.cleanUp(t);
      await this.onExit(
        t,
        undefined,
        `unhealthy: ${failures} failed checks in a row, last: ${result.reason}`,
      );
    });
  }
}
