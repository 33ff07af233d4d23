import { randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import {
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  statfs,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { parseJson } from '../lib/json-text.js';
import { BlobWriter } from './blob-writer.js';
import { type Digest, hexOf, parseDigest, sha256Digest } from './digest.js';

export interface StoreOptions {
  /** Directory of the store, e.g. `<data dir>/registry`. */
  readonly root: string;
  readonly capBytes: number;
  /**
   * Free space the store leaves on its filesystem, which it shares with the agent's state: blobs are evicted,
   * then refused, before a write would eat into it. 0 turns the check off.
   */
  readonly reserveBytes: number;
  /** Digests the images of running allocations need: never evicted, whatever the pressure. */
  readonly pinned: () => ReadonlySet<string>;
  readonly log: Logger;
  readonly now?: () => number;
}

export interface TagEntry {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly at: number;
}

interface Entry {
  size: number;
  lastUsed: number;
}

const MAX_TAGS = 1024;
/** Manifests are small; a bigger one is hostile or broken. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Bytes written between two measurements of free space (smaller with a small reserve, which it could eat). */
const MEASURE_EVERY = 1024 * 1024;

/** A blob that cannot be stored without eating into the free space kept for the agent's state. */
export class StoreFull extends Error {
  override readonly name = 'StoreFull';
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/**
 * OCI blobs and manifests by digest under one directory, with a size cap and LRU eviction that skips pinned
 * content. A blob becomes visible only by an atomic rename of a fsynced temp file whose sha256 matched, so a
 * crash or a lying source can never leave a wrong blob under a digest.
 */
export class ContentStore {
  readonly #opts: StoreOptions;
  readonly #now: () => number;
  readonly #entries = new Map<Digest, Entry>();
  readonly #writers = new Map<Digest, BlobWriter>();
  readonly #types = new Map<Digest, string>();
  #tags = new Map<string, TagEntry>();
  #used = 0;
  /** Bytes writers may still write before free space is measured again; shared by all writers. */
  #budget = 0;
  /** Measurements and the evictions they cause run one at a time, so concurrent writers cannot all pass. */
  #measuring: Promise<void> = Promise.resolve();

  private constructor(opts: StoreOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  static async open(opts: StoreOptions): Promise<ContentStore> {
    const store = new ContentStore(opts);
    await store.#load();
    return store;
  }

  get usedBytes(): number {
    return this.#used;
  }

  get capBytes(): number {
    return this.#opts.capBytes;
  }

  #blobPath(digest: Digest): string {
    return join(this.#opts.root, 'blobs', 'sha256', hexOf(digest));
  }

  async #load(): Promise<void> {
    const blobs = join(this.#opts.root, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    await mkdir(join(this.#opts.root, 'types'), { recursive: true });
    // Temp files are half-written fetches of a previous run: their sources are gone with it.
    await rm(join(this.#opts.root, 'tmp'), { recursive: true, force: true });
    await mkdir(join(this.#opts.root, 'tmp'), { recursive: true });
    for (const name of await readdir(blobs)) {
      const digest = parseDigest(`sha256:${name}`);
      if (!digest) continue;
      const info = await stat(join(blobs, name));
      this.#entries.set(digest, { size: info.size, lastUsed: info.mtimeMs });
      this.#used += info.size;
    }
    for (const name of await readdir(join(this.#opts.root, 'types'))) {
      const digest = parseDigest(`sha256:${name}`);
      if (digest && this.#entries.has(digest))
        this.#types.set(digest, await readFile(join(this.#opts.root, 'types', name), 'utf8'));
    }
    try {
      const raw = parseJson(await readFile(join(this.#opts.root, 'tags.json'), 'utf8')) as Record<
        string,
        TagEntry
      >;
      for (const [key, entry] of Object.entries(raw)) {
        const digest = parseDigest(entry?.digest);
        if (digest && typeof entry.mediaType === 'string')
          this.#tags.set(key, { digest, mediaType: entry.mediaType, at: Number(entry.at) || 0 });
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.#opts.log.warn(
          { err },
          'registry tags file unreadable; tags resolve again upstream or from peers',
        );
    }
  }

  has(digest: Digest): boolean {
    return this.#entries.has(digest);
  }

  size(digest: Digest): number | undefined {
    return this.#entries.get(digest)?.size;
  }

  /** Media type of a stored manifest; undefined for layers and configs. */
  mediaType(digest: Digest): string | undefined {
    return this.#types.get(digest);
  }

  list(): { digest: Digest; size: number }[] {
    return [...this.#entries].map(([digest, e]) => ({ digest, size: e.size }));
  }

  /** A read of a complete blob from `offset`; marks it recently used. */
  read(digest: Digest, offset = 0, end?: number): ReadStream {
    const entry = this.#entries.get(digest);
    if (!entry) throw new Error(`no blob ${digest}`);
    entry.lastUsed = this.#now();
    return createReadStream(this.#blobPath(digest), { start: offset, ...(end === undefined ? {} : { end }) });
  }

  async readBytes(digest: Digest): Promise<Buffer> {
    const entry = this.#entries.get(digest);
    if (!entry) throw new Error(`no blob ${digest}`);
    entry.lastUsed = this.#now();
    return readFile(this.#blobPath(digest));
  }

  /** The writer of a blob being fetched now, which peers may stream from while it grows. */
  partial(digest: Digest): BlobWriter | undefined {
    return this.#writers.get(digest);
  }

  /** Starts writing a blob; one writer per digest (callers single-flight through the fetcher). */
  async begin(digest: Digest, expectedSize?: number): Promise<BlobWriter> {
    if (this.#writers.has(digest)) throw new Error(`blob ${digest} is already being written`);
    if (expectedSize !== undefined) {
      await this.#refuseIfCannotFit(digest, expectedSize);
      this.#evict(expectedSize);
    }
    const tempPath = join(this.#opts.root, 'tmp', `${hexOf(digest)}.${randomBytes(4).toString('hex')}`);
    const writer = new BlobWriter(digest, tempPath, await open(tempPath, 'w+'), (bytes) =>
      this.#room(digest, bytes),
    );
    this.#writers.set(digest, writer);
    return writer;
  }

  /** Verifies, fsyncs and renames: only now does the blob exist under its digest. */
  async commit(writer: BlobWriter, mediaType?: string): Promise<void> {
    try {
      const actual = writer.digestOfWritten();
      if (actual !== writer.digest) throw new DigestMismatch(writer.digest, actual);
      await writer.sync();
      if (mediaType) await this.#writeType(writer.digest, mediaType);
      await rename(writer.tempPath, this.#blobPath(writer.digest));
      this.#add(writer.digest, writer.written);
      this.#writers.delete(writer.digest);
      writer.settle('complete');
    } catch (err) {
      await this.abort(writer, err as Error);
      throw err;
    }
  }

  async abort(writer: BlobWriter, error: Error): Promise<void> {
    if (this.#writers.get(writer.digest) === writer) this.#writers.delete(writer.digest);
    await writer.closeQuietly();
    await unlink(writer.tempPath).catch(() => {});
    writer.settle('failed', error);
  }

  /** Small content (manifests) in one go, verified like any blob. */
  async putBytes(digest: Digest, bytes: Uint8Array, mediaType?: string): Promise<void> {
    if (this.has(digest)) return;
    const actual = sha256Digest(bytes);
    if (actual !== digest) throw new DigestMismatch(digest, actual);
    this.#evict(bytes.length);
    await this.#room(digest, bytes.length);
    const temp = join(this.#opts.root, 'tmp', `${hexOf(digest)}.${randomBytes(4).toString('hex')}`);
    const file = await open(temp, 'w');
    try {
      // writeFile, unlike write, goes on after a short write (a full disk), so ENOSPC surfaces.
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    if (mediaType) await this.#writeType(digest, mediaType);
    await rename(temp, this.#blobPath(digest));
    this.#add(digest, bytes.length);
  }

  async #writeType(digest: Digest, mediaType: string): Promise<void> {
    await writeFile(join(this.#opts.root, 'types', hexOf(digest)), mediaType);
    this.#types.set(digest, mediaType);
  }

  /**
   * Ensures `bytes` more can be written while the reserve stays free, evicting least recently used unpinned
   * blobs when it would not. Free space is measured again only every MEASURE_EVERY bytes: statfs per chunk
   * would cost more than the write.
   */
  async #room(digest: Digest, bytes: number): Promise<void> {
    if (this.#opts.reserveBytes <= 0) return;
    if (bytes <= this.#budget) {
      this.#budget -= bytes;
      return;
    }
    await this.#measure(`blob ${digest}`, bytes);
  }

  #measure(what: string, bytes: number): Promise<void> {
    const turn = this.#measuring.then(async () => {
      if (bytes > 0 && bytes <= this.#budget) {
        this.#budget -= bytes;
        return;
      }
      const reserve = this.#opts.reserveBytes;
      let free = await this.#freeBytes();
      // Again while it helps: files take whole blocks, and one still open frees its space only when closed.
      while (free - bytes < reserve && (await this.#evictForSpace(reserve + bytes - free)) > 0)
        free = await this.#freeBytes();
      if (free - bytes < reserve) {
        this.#budget = 0;
        throw this.#full(what, free);
      }
      this.#budget = Math.min(free - reserve - bytes, MEASURE_EVERY, reserve / 4);
    });
    this.#measuring = turn.catch(() => {});
    return turn;
  }

  /** A blob whose size is known up front is refused before it evicts anything it could not fit anyway. */
  async #refuseIfCannotFit(digest: Digest, size: number): Promise<void> {
    if (this.#opts.reserveBytes <= 0) return;
    const free = await this.#freeBytes();
    const pinned = this.#opts.pinned();
    let evictable = 0;
    for (const [d, entry] of this.#entries) if (!pinned.has(d)) evictable += entry.size;
    if (free + evictable - size < this.#opts.reserveBytes)
      throw this.#full(`blob ${digest} of ${mib(size)}`, free);
  }

  #full(what: string, free: number): StoreFull {
    return new StoreFull(
      `no room for ${what}: the registry store keeps ` +
        `${mib(this.#opts.reserveBytes)} free on ${this.#opts.root} for the agent's state, ${mib(free)} are ` +
        'free, and what it could evict would not make room (blobs of running images stay); free disk space ' +
        'there, or let Docker pull the image directly',
    );
  }

  async #freeBytes(): Promise<number> {
    const fs = await statfs(this.#opts.root);
    return fs.bavail * fs.bsize;
  }

  /** Evicts least recently used unpinned blobs until `needed` bytes are gone from the disk, not just the map. */
  async #evictForSpace(needed: number): Promise<number> {
    const pinned = this.#opts.pinned();
    const victims = [...this.#entries]
      .filter(([digest]) => !pinned.has(digest))
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    let freed = 0;
    for (const [digest] of victims) {
      if (freed >= needed) break;
      freed += await this.#drop(digest, 'to keep free space for state');
    }
    return freed;
  }

  /**
   * Restores the reserve once pins are known (after a restart with a full disk, state must be writable before
   * any blob is fetched again).
   */
  async restoreReserve(): Promise<void> {
    if (this.#opts.reserveBytes <= 0) return;
    await this.#measure('the reserve', 0).catch((err: Error) =>
      this.#opts.log.warn({ err: err.message }, 'registry store cannot restore its free-space reserve'),
    );
  }

  async #drop(digest: Digest, why: string): Promise<number> {
    const entry = this.#entries.get(digest);
    if (!entry) return 0;
    this.#entries.delete(digest);
    this.#types.delete(digest);
    this.#used -= entry.size;
    this.#opts.log.info({ digest, size: entry.size }, `evicted blob ${why}`);
    await unlink(join(this.#opts.root, 'types', hexOf(digest))).catch(() => {});
    await unlink(this.#blobPath(digest)).catch(() => {});
    return entry.size;
  }

  #add(digest: Digest, size: number): void {
    if (!this.#entries.has(digest)) this.#used += size;
    this.#entries.set(digest, { size, lastUsed: this.#now() });
    this.#evict(0);
  }

  /**
   * Least recently used first, never a pinned blob nor one being written. When pinned content alone exceeds the
   * cap, the cap gives way, not the running workloads.
   */
  #evict(incoming: number): void {
    if (this.#used + incoming <= this.#opts.capBytes) return;
    const pinned = this.#opts.pinned();
    const victims = [...this.#entries]
      .filter(([digest]) => !pinned.has(digest))
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [digest] of victims) {
      if (this.#used + incoming <= this.#opts.capBytes) break;
      void this.#drop(digest, 'to stay under the cap');
    }
    if (this.#used + incoming > this.#opts.capBytes)
      this.#opts.log.warn(
        { used: this.#used, incoming, cap: this.#opts.capBytes },
        'registry store over its cap: the rest is pinned by running workloads',
      );
  }

  tag(key: string): TagEntry | undefined {
    return this.#tags.get(key);
  }

  tags(): [string, TagEntry][] {
    return [...this.#tags];
  }

  async setTag(key: string, digest: Digest, mediaType: string): Promise<void> {
    const prior = this.#tags.get(key);
    if (prior?.digest === digest && prior.mediaType === mediaType) return;
    this.#tags.delete(key);
    this.#tags.set(key, { digest, mediaType, at: this.#now() });
    while (this.#tags.size > MAX_TAGS) this.#tags.delete(this.#tags.keys().next().value as string);
    const temp = join(this.#opts.root, 'tmp', `tags.${randomBytes(4).toString('hex')}`);
    const file = await open(temp, 'w');
    try {
      await file.writeFile(JSON.stringify(Object.fromEntries(this.#tags)));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, join(this.#opts.root, 'tags.json'));
  }
}

export class DigestMismatch extends Error {
  override readonly name = 'DigestMismatch';
  constructor(expected: string, actual: string) {
    super(`content does not match its digest: expected ${expected}, got ${actual}`);
  }
}
