import type { JobSpec } from '../../crdt/job-spec.js';
import type { AllocStatus } from '../../crdt/records.js';
import type { Logger } from '../../lib/logger.js';
import type { Driver, DriverName } from '../drivers/driver.js';
import type { AllocEvents } from './alloc-events.js';
import type { Limiter } from './limiter.js';
import type { Backoff } from './restart-policy.js';
import type { SelfNode } from './task-spec.js';

/** One copy as its device's setup sees it. */
export interface SetupCopy {
  readonly allocId: string;
  readonly jobVersion: number;
  readonly spec: JobSpec;
  readonly driver: DriverName;
}

/** The running copy, for its templates: what a change of their data does to it. */
export interface RunningCopy extends SetupCopy {
  /** The copy's dynamic ports, by name. */
  readonly ports: Readonly<Record<string, number>>;
  /** Is the run this was made for still the copy's current run? */
  readonly current: () => boolean;
  /** A new run of the copy, not counted against its restart policy. */
  readonly restart: () => void;
}

export interface PreparedCopy {
  /** The copy's dynamic ports, by name. */
  readonly ports: Record<string, number>;
  /** Where its templates were rendered on the host (drivers/copy-dir.ts), when it has any. */
  readonly copyDir?: string;
}

/**
 * What a copy needs on this device besides its driver (copy-setup.ts): host ports for its dynamic ports
 * (port-allocator.ts) and its rendered templates.
 */
export interface CopySetup {
  /**
   * Before every start: the copy's dynamic ports, by name (kept across its restarts; `recorded`, from its
   * status, kept when still free), and its templates rendered. Throws when the copy cannot start here.
   */
  prepare(copy: SetupCopy, recorded: AllocStatus['ports']): Promise<PreparedCopy>;
  /** A copy already running at an agent restart holds the ports its status recorded. */
  adopt(copy: SetupCopy, recorded: AllocStatus['ports']): void;
  /** The copy runs, started or adopted: its templates follow their data from now on. */
  running(copy: RunningCopy): void;
  /** The run ended (exit, stop, restart): its templates stop following. */
  paused(allocId: string): void;
  /** The copy ended here for good: its ports go back. */
  ended(allocId: string): void;
}

/** What every runner on this node shares. */
export interface RunnerContext {
  readonly self: string;
  /** This node's name (MYCEL_NODE), labels, arch and os, which `${node.*}` in args and env fill in. */
  readonly selfNode: SelfNode;
  readonly drivers: ReadonlyMap<DriverName, Driver>;
  readonly setup: CopySetup;
  readonly report: (status: AllocStatus) => void;
  readonly persist: (() => Promise<void>) | undefined;
  readonly now: () => number;
  readonly log: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  readonly history: AllocEvents;
  /** Bounds driver starts and plan stops; clean-ups of finished workloads do not wait for it. */
  readonly slots: Limiter;
  /** Aborted when the reconciler closes. */
  readonly closing: AbortSignal;
  readonly startTimeoutMs: number;
  readonly callTimeoutMs: number;
  readonly stopGraceMs: number;
  readonly backoff: Backoff;
  readonly healthIntervalScale: number;
  readonly checkRestartLimit: number;
  /** A runner reached a final phase: the owner may forget older finished runners. */
  readonly finished: () => void;
}

export interface AllocIdentity {
  readonly allocId: string;
  readonly job: string;
  readonly jobVersion: number;
  readonly spec: JobSpec | undefined;
  readonly driver: DriverName;
}
