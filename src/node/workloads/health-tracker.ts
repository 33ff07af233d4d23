/**
 * Runs one alloc's health check on its interval and counts failures in a row, as Nomad's check_restart with
 * `limit` does: the first failure makes the alloc unhealthy, `limit` in a row mean it must be killed and
 * restarted. One check in flight at a time; a check whose run has ended meanwhile changes nothing.
 */
import type { JobSpec } from '../../crdt/job-spec.js';
import { type ExecFn, type HealthCheck, runCheck } from './health-check.js';

export interface HealthWatch {
  /** Whether the run the check was scheduled for still runs, and the reconciler is open. */
  current(): boolean;
  passed(): void;
  failed(reason: string): void;
  /** `limit` failures in a row. */
  exhausted(reason: string): Promise<void>;
}

/** The job's check as run on this node, or undefined when it has none. */
export function checkFor(spec: JobSpec | undefined): HealthCheck | undefined {
  const health = spec?.health;
  if (!health) return undefined;
  switch (health.type) {
    case 'exec':
      return { type: 'exec', command: health.command, timeoutMs: health.timeout };
    case 'tcp':
    case 'http': {
      // With bridge networking the check port names the container's port; it answers on the host's.
      const mapped =
        spec?.network === 'bridge' ? spec.ports.find((p) => p.container === health.port) : undefined;
      const port = mapped?.host ?? health.port;
      return health.type === 'tcp'
        ? { type: 'tcp', port, timeoutMs: health.timeout }
        : { type: 'http', port, path: health.path, timeoutMs: health.timeout };
    }
  }
}

export class HealthTracker {
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(
    private readonly check: HealthCheck | undefined,
    private readonly intervalMs: number,
    private readonly limit: number,
    private readonly exec: ExecFn | undefined,
  ) {}

  /** A new run starts with a clean count. */
  reset(): void {
    this.failures = 0;
  }

  schedule(watch: HealthWatch): void {
    if (!this.check) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(watch), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private async run(watch: HealthWatch): Promise<void> {
    const check = this.check;
    if (!check || !watch.current()) return;
    const result = await runCheck(check, this.exec ? { exec: this.exec } : {});
    if (!watch.current()) return;
    if (result.healthy) {
      this.failures = 0;
      watch.passed();
      return this.schedule(watch);
    }
    this.failures++;
    watch.failed(result.reason);
    if (this.failures < this.limit) return this.schedule(watch);
    await watch.exhausted(`unhealthy: ${this.failures} failed checks in a row, last: ${result.reason}`);
  }
}
