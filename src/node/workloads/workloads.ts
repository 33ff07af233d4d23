import type { GossipMessage, MeshState } from '../../crdt/mesh-state.js';
import type { AllocStatus } from '../../crdt/records.js';
import { formatDuration } from '../../lib/duration.js';
import type { Logger } from '../../lib/logger.js';
import { expiredRuns } from '../../scheduler/periodic-runs.js';
import type { Plan } from '../../scheduler/types.js';
import type {
  Driver,
  DriverName,
  ExecSession,
  LogLine,
  LogOptions,
  SessionOptions,
} from '../drivers/driver.js';
import { DriverError } from '../drivers/driver-error.js';
import { ExecDriver } from '../drivers/exec-driver.js';
import type { PeerLiveness } from '../placement/placement-input.js';
import { PlacementService } from '../placement/placement-service.js';
import type { AgentConfig } from '../setup/config.js';
import { type BootHold, bootHold, heldPlan } from './boot-hold.js';
import type { TemplateDataProvider } from './copy-templates.js';
import { parsePortRange } from './port-allocator.js';
import { Reconciler } from './reconciler.js';
import { stopAllWorkloads } from './self-fence.js';
import { type VarWatch, withVars } from './var-driver.js';

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
  /** This device's X25519 secret: copies' `${var:...}` are opened with it at start (var-driver.ts). */
  sealSecret?: Uint8Array;
  /** What copies' templates render besides their own values (the agent gives the service catalog). */
  templateData?: readonly TemplateDataProvider[];
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
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #lostAfterMs: number;
  readonly #apply: (plan: Plan) => void;
  readonly #startedAt: number;
  #meshHeardAt: number | undefined;
  readonly #warmTimer: NodeJS.Timeout;
  /** The hold's timer fired: Node timers may fire a millisecond before the clock says the time is due. */
  #timerDue = false;
  #released = false;
  #halted = false;
  #fencing: Promise<void> | undefined;

  private constructor(deps: WorkloadsDeps, drivers: Map<DriverName, Driver>) {
    this.#drivers = drivers;
    this.#log = deps.log;
    const { state, now, log } = deps;
    this.#now = now;
    this.#lostAfterMs = deps.config.lostAfterMs;
    this.#startedAt = now();
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
      selfLabels: deps.config.labels,
      finishedGc: { maxPerJob: deps.config.gcFinishedPerJob, maxAgeMs: deps.config.gcFinishedMaxAgeMs },
      portRange: parsePortRange(deps.config.portRange),
      dataDir: deps.config.dataDir,
      ...(deps.templateData ? { templateData: deps.templateData } : {}),
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
    // Restarts of what this node itself recorded go through at once; other starts wait out the boot hold
    // (boot-hold.ts). The hold's end re-applies the current plan unfiltered: a plan is only re-announced when it
    // changes.
    const apply = (plan: Plan) => {
      const own = new Set(state.allocations().flatMap((a) => (a.node === deps.self ? [a.allocId] : [])));
      void this.reconciler
        .apply(heldPlan(plan, own, this.#hold()))
        .catch((err: unknown) => log.error({ err }, 'applying the plan failed'));
      // Each periodic run leaves a status: past the newest few, this node removes its own.
      const mine = state.allocations().filter((a) => a.node === deps.self);
      for (const id of expiredRuns(this.placement.desired()?.runs ?? [], mine, deps.config.gcFinishedPerJob))
        deps.publish(state.removeAllocStatus(id, now()));
    };
    this.#apply = apply;
    this.#unsubscribe = this.placement.onPlan(apply);
    // At the lost period the hold ends if the mesh has not ended it, and recorded nodes this agent never heard
    // turn from suspect to lost (placement-liveness.ts): placement runs again either way.
    this.#warmTimer = setTimeout(() => {
      this.#timerDue = true;
      this.#releaseIfOver();
      this.placement.schedule();
    }, deps.config.lostAfterMs);
    this.#warmTimer.unref();
  }

  static async start(deps: WorkloadsDeps): Promise<Workloads> {
    const workloads = new Workloads(deps, varDrivers(deps, await startDrivers(deps)));
    // Adopt what already runs before the first plan, so an agent restart never starts a workload twice; with
    // no network at all the local replica still says what this device should run (offline autonomy).
    const previous = deps.state.allocations().filter((a) => a.node === deps.self);
    await workloads.reconciler.start(previous);
    workloads.placement.schedule();
    return workloads;
  }

  /** Undefined once warmed up: once the mesh is heard or one lost period after start, new copies start. */
  warmUp(): WarmUp | undefined {
    const hold = this.#hold();
    if (!hold.holding) return undefined;
    return {
      until: hold.until,
      remainingMs: Math.max(0, hold.until - this.#now()),
      reason: `new copies wait one lost period (${formatDuration(this.#lostAfterMs)}) after start, or until this agent has heard its peers`,
    };
  }

  /** A state sync with a peer finished: the replica holds what the mesh knows, so the boot hold ends. */
  meshHeard(): void {
    this.#meshHeardAt ??= this.#now();
    this.#releaseIfOver();
  }

  #hold(): BootHold {
    const due = this.#startedAt + this.#lostAfterMs;
    const now = this.#timerDue ? Math.max(this.#now(), due) : this.#now();
    return bootHold({
      startedAt: this.#startedAt,
      lostAfterMs: this.#lostAfterMs,
      meshHeardAt: this.#meshHeardAt,
      now,
    });
  }

  /** Ends the hold if it is over: the current plan is applied unfiltered once. */
  #releaseIfOver(): void {
    if (this.#released || this.#halted || this.#hold().holding) return;
    this.#released = true;
    const plan = this.placement.localPlan();
    if (plan) this.#apply(plan);
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

  /** An operator's command in a copy this node runs (`meshctl alloc exec`); a DriverError when it cannot. */
  async session(allocId: string, command: readonly string[], options: SessionOptions): Promise<ExecSession> {
    for (const driver of this.#drivers.values()) {
      if (!(await driver.inspect(allocId, { signal: options.signal }))) continue;
      if (!driver.session)
        throw new DriverError('unsupported', `the ${driver.name} driver runs no commands in a copy`, 'none');
      return driver.session(allocId, command, options);
    }
    throw new DriverError('not-found', `no workload for alloc ${allocId}`, 'meshctl alloc list shows it');
  }

  /** Something changed that placement depends on: replicated state or liveness. Debounced. */
  changed(): void {
    this.placement.schedule();
    for (const driver of this.#drivers.values()) (driver as Partial<VarWatch>).checkVars?.();
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
    this.#halted = true;
    this.#unsubscribe();
    clearTimeout(this.#warmTimer);
    this.placement.close();
    await this.reconciler.close();
  }
}

function varDrivers(deps: WorkloadsDeps, drivers: Map<DriverName, Driver>): Map<DriverName, Driver> {
  const { sealSecret: secret, self, state, log } = deps;
  if (!secret) return drivers;
  const source = { self, secret, variable: (path: string) => state.variable(path).current };
  return new Map([...drivers].map(([name, driver]) => [name, withVars(driver, source, log)]));
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
