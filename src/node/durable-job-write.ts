import type { JobEvent } from '../crdt/job-log.js';
import type { GossipMessage, MeshState } from '../crdt/mesh-state.js';
import type { StateStore } from './state-store.js';

/** Stagings lost to a concurrent compaction before giving up; each needs a compaction inside one fsync. */
const ATTEMPTS = 3;

/**
 * Adds a job event so that the acknowledgement and its absence are both true: the change is computed on a copy,
 * appended and fsynced, and only then applied to the replica and gossiped. A failed write (ENOSPC, EROFS)
 * leaves the replica, the peers and the running workloads as they were, and the error reaches the caller.
 * Calls are serialized: plans read the replica, and two interleaved ones would plan the same sequence number.
 */
export class DurableJobWrites {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly state: MeshState,
    private readonly store: StateStore,
    private readonly publish: (messages: readonly GossipMessage[]) => void,
  ) {}

  /** Runs `task` after every earlier one has finished, whatever their outcome. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Stores then applies `event`; false when the replica already holds it. Call inside `run`. */
  async add(name: string, event: JobEvent, now: number): Promise<boolean> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const staged = this.state.stageJobEvent(name, event, now);
      if (!staged) return false;
      await this.store.persistStaged(staged).catch((err: unknown) => {
        throw new Error(
          `job "${name}" was not stored, so nothing changed: cannot write the state to disk ` +
            `(${(err as Error).message}); free space on the data dir or make it writable, then run it again`,
          { cause: err },
        );
      });
      const publish = this.state.applyStaged(staged);
      if (publish) {
        this.publish(publish);
        return true;
      }
    }
    // The event was stored at least once, in a version of the document the replica then replaced: a restart may
    // still find it, so say so rather than call it failed.
    throw new Error(
      `job "${name}" was rewritten by peers while this change was being stored; it may or may not take effect: ` +
        `check with \`meshctl job status ${name}\` and submit again if needed`,
    );
  }
}
