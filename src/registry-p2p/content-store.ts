import { randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { parseJson } from '../crdt/json-text.js';
import { BlobWriter } from './blob-writer.js';
import { type Digest, hexOf, parseDigest, sha256Digest } from './digest.js';

export interface StoreOptions {
  /** Directory of the store, e.g. `<data dir>/registry`. */
  readonly root: string;
  readonly capBytes: number;
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
    if (expectedSize !== undefined) this.#evict(expectedSize);
    const tempPath = join(this.#opts.root, 'tmp', `${hexOf(digest)}.${randomBytes(4).toString('hex')}`);
    const writer = new BlobWriter(digest, tempPath, await open(tempPath, 'w+'));
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
    const temp = join(this.#opts.root, 'tmp', `${hexOf(digest)}.${randomBytes(4).toString('hex')}`);
    const file = await open(temp, 'w');
    try {
      await file.write(bytes);
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
    for (const [digest, entry] of victims) {
      if (this.#used + incoming <= this.#opts.capBytes) break;
      this.#entries.delete(digest);
      this.#types.delete(digest);
      this.#used -= entry.size;
      void unlink(this.#blobPath(digest)).catch(() => {});
      void unlink(join(this.#opts.root, 'types', hexOf(digest))).catch(() => {});
      this.#opts.log.info({ digest, size: entry.size }, 'evicted blob');
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
      await file.write(JSON.stringify(Object.fromEntries(this.#tags)));
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
