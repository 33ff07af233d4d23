import type { JobSpec } from '../../crdt/job-spec.js';
import type { AllocStatus } from '../../crdt/records.js';
import type { Logger } from '../../lib/logger.js';
import type { Driver, DriverName } from '../drivers/driver.js';
import type { AllocEvents } from './alloc-events.js';
import type { Limiter } from './limiter.js';
import type { Backoff } from './restart-policy.js';
import type { SelfNode } from './task-spec.js';

/** What every runner on this node shares. */
export interface RunnerContext {
  readonly self: string;
  /** This node's name (MYCEL_NODE), labels, arch and os, which `${node.*}` in args and env fill in. */
  readonly selfNode: SelfNode;
  readonly drivers: ReadonlyMap<DriverName, Driver>;
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
