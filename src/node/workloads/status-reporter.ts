import type { AllocStatus } from '../../crdt/records.js';
import { nextStatus, type StatusPatch, sameStatus } from './alloc-status.js';
import type { RunnerContext } from './runner-context.js';

type Identity = Pick<AllocStatus, 'allocId' | 'job' | 'jobVersion' | 'node'>;

/**
 * One copy's status as its node sees it, and what was last reported to the replicated state. The node's view
 * runs ahead of the report while the state refuses writes: a refused report is not taken as made, so the next
 * transition writes the whole status again, rather than the replica keeping a stale one (a copy stopped here
 * but `starting` everywhere would never run again).
 */
export class StatusReporter {
  #current: AllocStatus | undefined;
  #reported: AllocStatus | undefined;

  constructor(
    private readonly id: Identity,
    private readonly ctx: Pick<RunnerContext, 'report' | 'now' | 'log'>,
  ) {}

  get current(): AllocStatus | undefined {
    return this.#current;
  }

  /** A status the replica already holds (a workload adopted as recorded, a corrected record). */
  known(status: AllocStatus): void {
    this.#current = status;
    this.#reported = status;
  }

  /** Reports the status with `patch` applied, unless nothing changed. */
  apply(patch: StatusPatch): void {
    const next = nextStatus(this.id, this.#current, patch, this.ctx.now());
    this.#current = next;
    if (this.#reported && sameStatus(this.#reported, next)) return;
    try {
      this.ctx.report(next);
      this.#reported = next;
    } catch (err) {
      this.ctx.log.error({ allocId: this.id.allocId, err, status: next }, 'could not report an alloc status');
    }
  }
}
