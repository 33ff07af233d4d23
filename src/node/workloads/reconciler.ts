/**
 * The local reconciler's one door (README.md has the flow): the options and their defaults, and the calls
 * workloads.ts, the agent and the simulator make. The work is done by the plan applier and its alloc runners.
 */
import { arch, platform } from 'node:os';
import type { JobSpec } from '../../crdt/job-spec.js';
import type { AllocStatus } from '../../crdt/records.js';
import type { Logger } from '../../lib/logger.js';
import type { Plan } from '../../scheduler/types.js';
import type { Driver, DriverName } from '../drivers/driver.js';
import { type AllocEvent, AllocEvents } from './alloc-events.js';
import { DeviceCopySetup } from './copy-setup.js';
import { RenderedTemplates, type TemplateDataProvider } from './copy-templates.js';
import { DEFAULT_FINISHED_GC, type FinishedGcPolicy } from './finished-gc.js';
import { Limiter } from './limiter.js';
import { PlanApplier } from './plan-applier.js';
import { DEFAULT_PORT_RANGE, PortAllocator, type PortRange } from './port-allocator.js';
import { type Backoff, DEFAULT_BACKOFF } from './restart-policy.js';

export interface ReconcilerOptions {
  /** Peer id of this node: the owner the drivers were built for. */
  readonly self: string;
  /** This node's name (its node record's), which workloads see as MYCEL_NODE. */
  readonly selfName: string;
  /** This node's labels, which `${node.label.<key>}` fills in. */
  readonly selfLabels?: Readonly<Record<string, string>>;
  readonly drivers: ReadonlyMap<DriverName, Driver>;
  readonly resolveSpec: (job: string, version: number) => JobSpec | undefined;
  /**
   * Called on transitions only (every status differs from the one before it for that alloc); the caller
   * writes it with MeshState.putAllocStatus.
   */
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
  /** How often the drivers are asked what still runs: they have no exit events. */
  readonly pollMs?: number;
  /** Driver starts and plan stops running at once. */
  readonly maxConcurrentCalls?: number;
  /** Failing checks in a row that kill the workload and count as an exit (Nomad's check_restart limit). */
  readonly checkRestartLimit?: number;
  /** Deadline for a start, which may include an image pull. */
  readonly startTimeoutMs?: number;
  /** Deadline for list, inspect and stop calls (a stop's grace is added). */
  readonly callTimeoutMs?: number;
  readonly stopGraceMs?: number;
  readonly backoff?: Backoff;
  readonly eventsPerAlloc?: number;
  /**
   * When finished copies are removed with what their drivers keep (containers, process records and logs);
   * unset fields take DEFAULT_FINISHED_GC's.
   */
  readonly finishedGc?: Partial<FinishedGcPolicy>;
  /** Where copies' dynamic ports come from (`meshd --port-range`); default 20000-32000. */
  readonly portRange?: PortRange;
  /** The data dir copies' templates are rendered under (drivers/copy-dir.ts); without it none are. */
  readonly dataDir?: string;
  /** What templates render besides the copy's own values (the agent gives the service catalog). */
  readonly templateData?: readonly TemplateDataProvider[];
}

export class Reconciler {
  private readonly history: AllocEvents;
  private readonly applier: PlanApplier;
  private readonly closing = new AbortController();
  private readonly templates: RenderedTemplates | undefined;

  constructor(options: ReconcilerOptions) {
    this.history = new AllocEvents({ perAlloc: options.eventsPerAlloc ?? 16 });
    // The same arch and os the node record advertises (state-service.ts).
    const selfNode = {
      name: options.selfName,
      labels: options.selfLabels ?? {},
      arch: arch(),
      os: platform(),
    };
    const { self, drivers, dataDir, log } = options;
    this.templates =
      dataDir === undefined
        ? undefined
        : new RenderedTemplates({
            dataDir,
            self,
            selfNode,
            drivers,
            providers: options.templateData ?? [],
            log,
          });
    const ports = new PortAllocator(options.portRange ?? DEFAULT_PORT_RANGE);
    this.applier = new PlanApplier(
      {
        self: options.self,
        selfNode,
        drivers: options.drivers,
        setup: new DeviceCopySetup(ports, this.templates),
        report: options.report,
        persist: options.persist,
        now: options.now,
        log: options.log,
        history: this.history,
        slots: new Limiter(options.maxConcurrentCalls ?? 4),
        closing: this.closing.signal,
        startTimeoutMs: options.startTimeoutMs ?? 15 * 60_000,
        callTimeoutMs: options.callTimeoutMs ?? 15_000,
        stopGraceMs: options.stopGraceMs ?? 5_000,
        backoff: options.backoff ?? DEFAULT_BACKOFF,
        healthIntervalScale: options.healthIntervalScale ?? 1,
        checkRestartLimit: Math.max(1, options.checkRestartLimit ?? 3),
      },
      {
        resolveSpec: options.resolveSpec,
        pollMs: options.pollMs ?? 1_000,
        finishedGc: { ...DEFAULT_FINISHED_GC, ...options.finishedGc },
      },
    );
  }

  /**
   * Adopts what the drivers run for this owner, then starts watching. Call once, before `apply`. `previous`
   * are the statuses this node last wrote, so adoption writes nothing when a workload still runs as recorded.
   */
  start(previous: readonly AllocStatus[] = []): Promise<void> {
    return this.applier.start(previous);
  }

  /** Stop, start, keep; idempotent and serialised. */
  apply(plan: Plan): Promise<void> {
    return this.applier.apply(plan);
  }

  /** This node's view of the alloc's status (what it reports, or tries to). */
  status(allocId: string): AllocStatus | undefined {
    return this.applier.runner(allocId)?.status;
  }

  /**
   * An operator's restart of a copy this node runs; not counted against its restart policy. Resolves
   * undefined once it started again, or with why it was not restarted.
   */
  async restart(allocId: string): Promise<string | undefined> {
    const runner = this.applier.runner(allocId);
    if (!runner) return 'this node runs no such copy';
    return runner.restartByOperator();
  }

  /** Recent events of the alloc, oldest first. */
  events(allocId: string): AllocEvent[] {
    return this.history.list(allocId);
  }

  /** Stops watching; workloads keep running (an agent restart adopts them). */
  async close(): Promise<void> {
    this.closing.abort();
    this.templates?.close();
    await this.applier.close();
  }
}
