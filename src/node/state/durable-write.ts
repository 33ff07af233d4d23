import type { JobEvent } from '../../crdt/job-log.js';
import type { GossipMessage, MeshState } from '../../crdt/mesh-state.js';
import type { StagedWrite } from '../../crdt/staged-write.js';
import type { TrustChange } from '../../crdt/trust.js';
import type { VarEntry } from '../../crdt/var-docs.js';
import type { StateStore } from './state-store.js';

/** Stagings lost to a concurrent compaction before giving up; each needs a compaction inside one fsync. */
const ATTEMPTS = 3;

/**
 * Local writes an operator is answered about (job events, trust changes), made so that the acknowledgement and
 * its absence are both true: the change is computed on a copy, appended and fsynced, and only then applied to
 * the replica and gossiped. A failed write (ENOSPC, EROFS) leaves the replica, the peers and the running
 * workloads as they were, and the error reaches the caller. Calls are serialized: plans read the replica, and
 * two interleaved ones would plan the same sequence number.
 */
export class DurableWrites {
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
  addJobEvent(name: string, event: JobEvent, now: number): Promise<boolean> {
    return this.add(`job "${name}"`, `meshctl job status ${name}`, () =>
      this.state.stageJobEvent(name, event, now),
    );
  }

  /** Stores then applies an operator-signed trust change; false when the replica already holds it. */
  addTrustChange(change: TrustChange, now: number): Promise<boolean> {
    return this.add(`the ${change.kind} change of ${change.subject}`, 'meshctl operator list', () =>
      this.state.stageTrustChange(change, now),
    );
  }

  /** Stores then applies a variable's entry (var-docs.ts); false when the replica already holds it. */
  addVarEntry(path: string, entry: VarEntry, now: number): Promise<boolean> {
    return this.add(`variable ${path}`, `meshctl var list ${path}`, () =>
      this.state.stageVarEntry(path, entry, now),
    );
  }

  private async add(what: string, check: string, stage: () => StagedWrite | undefined): Promise<boolean> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const staged = stage();
      if (!staged) return false;
      await this.store.persistStaged(staged).catch((err: unknown) => {
        throw new Error(
          `${what} was not stored, so nothing changed: cannot write the state to disk ` +
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
    // The change was stored at least once, in a version of the document the replica then replaced: a restart
    // may still find it, so say so rather than call it failed.
    throw new Error(
      `${what} was rewritten by peers while this change was being stored; it may or may not take effect: ` +
        `check with \`${check}\` and run it again if needed`,
    );
  }
}
