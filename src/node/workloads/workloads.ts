import type { GossipMessage, MeshState } from '../../crdt/mesh-state.js';
import type { AllocStatus } from '../../crdt/records.js';
import { formatDuration } from '../../lib/duration.js';
import type { Logger } from '../../lib/logger.js';
import type { Plan } from '../../scheduler/types.js';
import type { Driver, DriverName, LogLine, LogOptions } from '../drivers/driver.js';
import { DriverError } from '../drivers/driver-error.js';
import { ExecDriver } from '../drivers/exec-driver.js';
import type { PeerLiveness } from '../placement/placement-input.js';
import { PlacementService } from '../placement/placement-service.js';
import type { AgentConfig } from '../setup/config.js';
import { Reconciler } from './reconciler.js';
import { stopAllWorkloads } from './self-fence.js';

export interface WorkloadsDeps {
  self: string;
  config: AgentConfig;
  log: Logger;
  now: () => number;
  state: MeshState;
  publish(messages: readonly GossipMessage[]): void;
  /** Writes the replicated state to disk now (fsync'd); the reconciler awaits it before each start. */
  persist(): Promise<void>;
  /** Drivers this node offers (the same list its node record advertises). */
  drivers: readonly DriverName[];
  liveness(): readonly PeerLiveness[];
  /** The closed mesh's `trustRootOf`: nodes that declare another are not placed on (placement-input.ts). */
  trustRoot?: string | undefined;
  /** `host:port` of the agent's registry endpoint, when up: Docker pulls images through it. */
  imageMirror?: () => string | undefined;
  /** Tests shrink placement debounce and health intervals. */
  tuning?: { debounceMs?: number; healthIntervalScale?: number; pollMs?: number };
  /** The simulator runs allocations in memory: it supplies the drivers instead of Docker and processes. */
  makeDriver?: (name: DriverName, owner: string) => Driver;
}

/** A fresh agent's warm-up: until `until` it starts no copy it has no status of its own for. */
export interface WarmUp {
  /** Wall-clock ms when new work may start. */
  readonly until: number;
  readonly remainingMs: number;
  readonly reason: string;
}

/**
 * The one-way pipeline from replicated state to running work: state or liveness changes → placement (every
 * agent computes all of it) → this node's plan → reconciler → drivers → status transitions back into the
 * replicated state. Nothing here decides for other nodes; each runs only its own share.
 */
export class Workloads {
  readonly placement: PlacementService;
  readonly reconciler: Reconciler;
  readonly #drivers: Map<DriverName, Driver>;
  readonly #unsubscribe: () => void;
  readonly #warmTimer: NodeJS.Timeout;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #warmUntil: number;
  readonly #lostAfterMs: number;
  #warm = false;
  #fencing: Promise<void> | undefined;

  private constructor(deps: WorkloadsDeps, drivers: Map<DriverName, Driver>) {
    this.#drivers = drivers;
    this.#log = deps.log;
    const { state, now, log } = deps;
    this.#now = now;
    this.#lostAfterMs = deps.config.lostAfterMs;
    this.#warmUntil = now() + deps.config.lostAfterMs;
    this.placement = new PlacementService({
      self: deps.self,
      readState: () => ({
        jobs: state.jobs(),
        nodes: state.nodes(),
        allocations: state.allocations(),
        trustRoot: deps.trustRoot,
        drained: state.trust().drained,
      }),
      readLiveness: deps.liveness,
      now,
      ...(deps.tuning?.debounceMs !== undefined ? { debounceMs: deps.tuning.debounceMs } : {}),
      onError: (err) => log.error({ err }, 'placement failed; keeping the last placement'),
    });
    this.reconciler = new Reconciler({
      self: deps.self,
      selfName: deps.config.name,
      finishedGc: { maxPerJob: deps.config.gcFinishedPerJob, maxAgeMs: deps.config.gcFinishedMaxAgeMs },
      drivers,
      resolveSpec: (job, version) => {
        const spec = this.placement.specs.at(state.job(job), version);
        return spec.ok ? spec.value : undefined;
      },
      report: (status: AllocStatus) => deps.publish(state.putAllocStatus(status, now())),
      persist: deps.persist,
      now,
      log,
      ...(deps.tuning?.healthIntervalScale ? { healthIntervalScale: deps.tuning.healthIntervalScale } : {}),
      ...(deps.tuning?.pollMs ? { pollMs: deps.tuning.pollMs } : {}),
    });
    // Until one lost-period after start the replica may lack statuses peers wrote while this agent was down (a
    // kill -9 loses what was not flushed), and every peer is only suspect, so this node is the one place left
    // for slots that look empty. Restart what this node itself recorded; start new copies once warmed up.
    // The timer alone ends warm-up: a plan is only re-announced when it changes, so the timer's re-apply must
    // not itself be filtered, and Node timers may fire a millisecond before the wall clock says they are due.
    const apply = (plan: Plan) =>
      void this.reconciler
        .apply(this.#warm ? plan : ownStartsOnly(plan, state.allocations(), deps.self))
        .catch((err: unknown) => log.error({ err }, 'applying the plan failed'));
    this.#unsubscribe = this.placement.onPlan(apply);
    this.#warmTimer = setTimeout(() => {
      this.#warm = true;
      const plan = this.placement.localPlan();
      if (plan) apply(plan);
      // Recorded nodes this agent never heard turn from suspect to lost now (placement-liveness.ts).
      this.placement.schedule();
    }, deps.config.lostAfterMs);
    this.#warmTimer.unref();
  }

  static async start(deps: WorkloadsDeps): Promise<Workloads> {
    const workloads = new Workloads(deps, await startDrivers(deps));
    // Adopt what already runs before the first plan, so an agent restart never starts a workload twice; with
    // no network at all the local replica still says what this device should run (offline autonomy).
    const previous = deps.state.allocations().filter((a) => a.node === deps.self);
    await workloads.reconciler.start(previous);
    workloads.placement.schedule();
    return workloads;
  }

  /** Undefined once warmed up: one lost period after start, new copies (not restarts) start. */
  warmUp(): WarmUp | undefined {
    if (this.#warm) return undefined;
    return {
      until: this.#warmUntil,
      remainingMs: Math.max(0, this.#warmUntil - this.#now()),
      reason: `new copies wait one lost period (${formatDuration(this.#lostAfterMs)}) after start, until this agent has heard its peers`,
    };
  }

  /**
   * The logs of a workload this node runs, from whichever driver runs it; a DriverError `not-found` before any
   * line when none does, so callers can refuse cleanly.
   */
  async logs(allocId: string, options: LogOptions): Promise<AsyncIterable<LogLine>> {
    for (const driver of this.#drivers.values()) {
      if (await driver.inspect(allocId, { signal: options.signal })) return driver.logs(allocId, options);
    }
    throw new DriverError(
      'not-found',
      `no workload for alloc ${allocId}`,
      'meshctl alloc list shows where it runs',
    );
  }

  /** Something changed that placement depends on: replicated state or liveness. Debounced. */
  changed(): void {
    this.placement.schedule();
  }

  /**
   * This device was revoked: stop every workload and never start one again (self-fence.ts). Placement stops
   * too, so `meshctl alloc list` here no longer claims copies it will not run.
   */
  fence(): Promise<void> {
    this.#fencing ??= (async () => {
      await this.#halt();
      const stopped = await stopAllWorkloads(this.#drivers, this.#log);
      this.#log.error({ stopped }, 'this device is revoked: stopped all its workloads (self-fencing)');
    })();
    return this.#fencing;
  }

  async stop(): Promise<void> {
    await this.#halt();
    await this.#fencing;
    for (const driver of this.#drivers.values()) await driver.close();
  }

  async #halt(): Promise<void> {
    this.#unsubscribe();
    clearTimeout(this.#warmTimer);
    this.placement.close();
    await this.reconciler.close();
  }
}

async function startDrivers(deps: WorkloadsDeps): Promise<Map<DriverName, Driver>> {
  const drivers = new Map<DriverName, Driver>();
  const { makeDriver } = deps;
  if (makeDriver) {
    for (const name of deps.drivers) drivers.set(name, makeDriver(name, deps.self));
    return drivers;
  }
  if (deps.drivers.includes('exec'))
    drivers.set(
      'exec',
      new ExecDriver({
        owner: deps.self,
        dataDir: deps.config.dataDir,
        allowHostPath: deps.config.allowHostPath,
      }),
    );
  if (deps.drivers.includes('docker')) {
    // Loaded only where Docker answers: dockerode and its ssh2 stack cost ~30 MB of RSS on a device without it.
    const { DockerDriver } = await import('../drivers/docker-driver.js');
    drivers.set(
      'docker',
      new DockerDriver({
        owner: deps.self,
        socketPath: deps.config.dockerSocket,
        dataDir: deps.config.dataDir,
        allowHostPath: deps.config.allowHostPath,
        ...(deps.imageMirror ? { mirror: deps.imageMirror } : {}),
      }),
    );
  }
  return drivers;
}

/** The plan without starts of copies this node has no status of its own for: restarts only. */
function ownStartsOnly(plan: Plan, allocations: readonly AllocStatus[], self: string): Plan {
  const own = new Set(allocations.filter((a) => a.node === self).map((a) => a.allocId));
  return { ...plan, start: plan.start.filter((d) => own.has(d.allocId)) };
}
