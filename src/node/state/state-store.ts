import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { DocId } from '../../crdt/doc-id.js';
import type { MeshState } from '../../crdt/mesh-state.js';
import { PeerSyncStates } from '../../crdt/peer-sync-states.js';
import { type StagedWrite, saveStaged, saveStagedSince } from '../../crdt/staged-write.js';
import {
  encodeDocRecord,
  frame,
  readDocRecords,
  type Skipped,
  scanRecords,
} from '../../crdt/storage-format.js';
import { stateWriteReserve } from '../../lib/descriptor-reserve.js';
import { ensureDirectory } from '../setup/data-dir.js';

/**
 * The replicated state on disk, under `<dataDir>/state/`:
 * - `docs.snap`: every document as one A.save() record, rewritten atomically (temp, fsync, rename, fsync dir);
 * - `docs.log`: records appended since, one per changed document per flush (an A.saveSince chunk, or a whole
 *   document when its epoch changed); folded into a new snapshot once it outgrows `snapshotAfterLogBytes`;
 * - `sync-states.bin`: per-peer sync states, rewritten atomically when they changed.
 * Two files instead of one per document: a flush is one append and one fsync however many documents changed.
 * Writes are batched on a timer and skipped when nothing changed (flash wear); `flush()` is the durable path
 * (fsync before returning) used before acknowledging a job submission. Damaged files never stop the agent: the
 * valid records are kept, the damage is logged, a clean snapshot replaces the files, peers re-sync the rest.
 */
export interface StoreLogger {
  warn(fields: object, message: string): void;
}

export interface StateStoreOptions {
  /** The agent's data dir; the store keeps its files in `state/` below it. */
  readonly dataDir: string;
  readonly flushIntervalMs?: number;
  readonly snapshotAfterLogBytes?: number;
  readonly log?: StoreLogger;
}

export interface LoadReport {
  readonly documents: number;
  readonly skipped: readonly (Skipped & { file: string })[];
  readonly problems: readonly string[];
}

export interface WriteStats {
  /** Write calls issued (appends and whole-file writes): what an idle agent must keep at zero. */
  writes: number;
  bytes: number;
  fsyncs: number;
  snapshots: number;
}

const SNAPSHOT = 'docs.snap';
const LOG = 'docs.log';
const SYNC_STATES = 'sync-states.bin';

export class StateStore {
  readonly stats: WriteStats = { writes: 0, bytes: 0, fsyncs: 0, snapshots: 0 };
  private readonly dir: string;
  private readonly persisted = new Map<DocId, { epoch: number; heads: string[] }>();
  private readonly pending = new Set<DocId>();
  private logBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  private constructor(
    private readonly options: StateStoreOptions,
    private readonly state: MeshState,
    private readonly peerStates: PeerSyncStates,
  ) {
    this.dir = join(options.dataDir, 'state');
  }

  /** Loads whatever is valid on disk into `state` and the returned sync states; never throws on bad content. */
  static async open(
    options: StateStoreOptions,
    state: MeshState,
    maxPeers = 16,
  ): Promise<{ store: StateStore; peerStates: PeerSyncStates; report: LoadReport }> {
    const dir = join(options.dataDir, 'state');
    await ensureDirectory(dir, 'state directory');
    // Taken now, while descriptors are plentiful, for a flush at a time when they are not.
    stateWriteReserve();
    const skipped: (Skipped & { file: string })[] = [];
    const problems: string[] = [];
    let logBytes = 0;
    const restored = new Set<DocId>();
    for (const file of [SNAPSHOT, LOG]) {
      const bytes = await readOptional(join(dir, file));
      if (file === LOG) logBytes = bytes.length;
      const read = readDocRecords(bytes);
      skipped.push(...read.skipped.map((s) => ({ ...s, file })));
      for (const doc of read.docs) {
        const result = state.restore(doc.docId, doc.epoch, doc.bytes);
        if (result.ok) restored.add(doc.docId);
        else problems.push(result.error);
      }
    }
    const peerStates = decodePeerStates(await readOptional(join(dir, SYNC_STATES)), maxPeers, problems);
    const store = new StateStore(options, state, peerStates);
    store.logBytes = logBytes;
    state.drainDirty();
    // What came from disk is persisted; anything the state held before opening still has to be written.
    for (const summary of state.summaries()) {
      if (restored.has(summary.docId)) {
        store.persisted.set(summary.docId, { epoch: summary.epoch, heads: [...summary.heads] });
      } else store.pending.add(summary.docId);
    }
    peerStates.takeChanged();
    const report: LoadReport = { documents: store.persisted.size, skipped, problems };
    if (skipped.length > 0 || problems.length > 0) {
      options.log?.warn(
        { skipped, problems, documents: report.documents },
        'state files were damaged: kept the valid records, the rest will be re-synced from peers',
      );
      await store.enqueue(() => store.writeSnapshot());
    }
    return { store, peerStates, report };
  }

  /** Starts batched background flushing. */
  start(): void {
    this.timer ??= setInterval(() => {
      this.flush().catch((e: unknown) => this.options.log?.warn({ err: String(e) }, 'state flush failed'));
    }, this.options.flushIntervalMs ?? 30_000);
    this.timer.unref();
  }

  /** Writes what changed and fsyncs it before resolving. Does no I/O at all when nothing changed. */
  flush(): Promise<void> {
    return this.enqueue(() => this.writeChanges());
  }

  /**
   * Appends and fsyncs a write the replica has not applied yet (see StagedWrite). What is persisted stays as it
   * was: the next flush stores the applied document again from there, a few bytes twice.
   */
  persistStaged(staged: StagedWrite): Promise<void> {
    return this.enqueue(async () => {
      const before = this.persisted.get(staged.docId);
      let bytes: Uint8Array | undefined;
      try {
        if (before && before.epoch === staged.epoch) bytes = saveStagedSince(staged, before.heads);
      } catch {
        // Heads the staged copy does not descend from (should not happen within an epoch): store it whole.
      }
      bytes ??= saveStaged(staged);
      const data = encodeDocRecord({ docId: staged.docId, epoch: staged.epoch, bytes });
      await this.append(join(this.dir, LOG), data);
      this.logBytes += data.length;
    });
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async writeChanges(): Promise<void> {
    for (const docId of this.state.drainDirty()) this.pending.add(docId);
    const chunks: Uint8Array[] = [];
    const written: [DocId, { epoch: number; heads: string[] }][] = [];
    for (const docId of this.pending) {
      const epoch = this.state.epochOf(docId);
      const heads = this.state.heads(docId);
      if (epoch === undefined || !heads) continue;
      const before = this.persisted.get(docId);
      if (before && before.epoch === epoch && sameHeads(before.heads, heads)) continue;
      const bytes =
        before && before.epoch === epoch ? this.state.saveSince(docId, before.heads) : this.state.save(docId);
      if (!bytes) continue;
      chunks.push(encodeDocRecord({ docId, epoch, bytes }));
      written.push([docId, { epoch, heads }]);
    }
    if (chunks.length > 0) {
      const data = Buffer.concat(chunks);
      await this.append(join(this.dir, LOG), data);
      this.logBytes += data.length;
      for (const [docId, persisted] of written) this.persisted.set(docId, persisted);
    }
    this.pending.clear();
    if (this.peerStates.takeChanged()) {
      await this.writeAtomically(join(this.dir, SYNC_STATES), frame(this.peerStates.encode()));
    }
    if (this.logBytes > (this.options.snapshotAfterLogBytes ?? 1024 * 1024)) await this.writeSnapshot();
  }

  private async writeSnapshot(): Promise<void> {
    const chunks: Uint8Array[] = [];
    for (const { docId, epoch, heads } of this.state.summaries()) {
      const bytes = this.state.save(docId);
      if (!bytes) continue;
      chunks.push(encodeDocRecord({ docId, epoch, bytes }));
      this.persisted.set(docId, { epoch, heads: [...heads] });
    }
    await this.writeAtomically(join(this.dir, SNAPSHOT), Buffer.concat(chunks));
    // The snapshot holds everything the log did; replaying a stale log over it would be harmless anyway.
    await this.writeAtomically(join(this.dir, LOG), new Uint8Array());
    this.logBytes = 0;
    this.stats.snapshots++;
  }

  private async append(path: string, data: Uint8Array): Promise<void> {
    await this.writeSynced(path, 'a', data);
  }

  /** Writes and fsyncs `data`: nothing counts as stored before it is on the device. */
  private async writeSynced(path: string, flags: 'a' | 'w', data: Uint8Array): Promise<void> {
    const handle = await stateWriteReserve().open(() => open(path, flags));
    try {
      await handle.write(data);
      await handle.sync();
      this.count(data.length);
    } finally {
      await handle.close();
    }
  }

  private async writeAtomically(path: string, data: Uint8Array): Promise<void> {
    const temp = `${path}.tmp`;
    await this.writeSynced(temp, 'w', data);
    await rename(temp, path);
    const dir = await stateWriteReserve().open(() => open(this.dir, 'r'));
    try {
      await dir.sync();
      this.stats.fsyncs++;
    } finally {
      await dir.close();
    }
  }

  private count(bytes: number): void {
    this.stats.writes++;
    this.stats.fsyncs++;
    this.stats.bytes += bytes;
  }
}

async function readOptional(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Uint8Array();
    throw e;
  }
}

function decodePeerStates(bytes: Uint8Array, maxPeers: number, problems: string[]): PeerSyncStates {
  if (bytes.length === 0) return new PeerSyncStates(maxPeers);
  const payload = scanRecords(bytes).records[0]?.payload;
  const decoded = payload ? PeerSyncStates.decode(payload, maxPeers) : undefined;
  if (decoded?.ok) return decoded.value;
  problems.push(
    `${SYNC_STATES}: ${decoded ? decoded.error : 'no intact record'}; starting with fresh sync states`,
  );
  return new PeerSyncStates(maxPeers);
}

function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join() === [...b].sort().join();
}
