import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Digest } from './digest.js';

export type WriterState = 'writing' | 'complete' | 'failed';

/**
 * One blob being written into the store: a temp file that grows as bytes arrive from any source, hashed as it
 * grows. Readers (peers streaming a blob still in flight) follow `written` through `waitFor`. The bytes become
 * a blob only through the store's commit, after the hash matched.
 */
export class BlobWriter {
  readonly digest: Digest;
  readonly tempPath: string;
  readonly #file: FileHandle;
  /** Asks the store for disk space before each write; throws when the store must refuse the blob. */
  readonly #room: (bytes: number) => Promise<void>;
  readonly #hash: Hash = createHash('sha256');
  #written = 0;
  #state: WriterState = 'writing';
  #error: Error | undefined;
  #waiters: (() => void)[] = [];

  constructor(digest: Digest, tempPath: string, file: FileHandle, room: (bytes: number) => Promise<void>) {
    this.digest = digest;
    this.tempPath = tempPath;
    this.#file = file;
    this.#room = room;
  }

  get written(): number {
    return this.#written;
  }

  get state(): WriterState {
    return this.#state;
  }

  get error(): Error | undefined {
    return this.#error;
  }

  async append(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'writing') throw new Error(`blob ${this.digest} is ${this.#state}`);
    await this.#room(chunk.length);
    // write(2) stops short when the disk fills; the next call then fails with ENOSPC instead of a blob losing
    // bytes that would later look like a source's corruption.
    for (let done = 0; done < chunk.length; ) {
      const { bytesWritten } = await this.#file.write(chunk, done, chunk.length - done, this.#written + done);
      if (bytesWritten === 0) throw new Error(`cannot write blob ${this.digest}: the disk accepts no bytes`);
      done += bytesWritten;
    }
    this.#hash.update(chunk);
    this.#written += chunk.length;
    this.#wake();
  }

  /** The sha256 of what was written so far, as a digest string; consumes the hash. */
  digestOfWritten(): string {
    return `sha256:${this.#hash.digest('hex')}`;
  }

  async sync(): Promise<void> {
    await this.#file.sync();
    await this.#file.close();
  }

  settle(state: 'complete' | 'failed', error?: Error): void {
    this.#state = state;
    this.#error = error;
    this.#wake();
  }

  async closeQuietly(): Promise<void> {
    await this.#file.close().catch(() => {});
  }

  /** Resolves once more than `offset` bytes exist or the writer has settled. */
  waitFor(offset: number, signal: AbortSignal): Promise<void> {
    if (this.#written > offset || this.#state !== 'writing') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
