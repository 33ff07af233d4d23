import type { Stream } from '@libp2p/interface';
import * as varint from 'uint8-varint';
import { Uint8ArrayList } from 'uint8arraylist';
import { type InboundBudget, PROCESS_INBOUND_BUDGET } from './inbound-budget.js';

/**
 * Length-prefixed frames over a libp2p stream (the unsigned-varint framing of `lpStream`, so the wire is
 * unchanged) with flow control from the consumer back to the producer, and a progress deadline.
 *
 * Why not `lpStream`: it buffers whatever arrives and fails the whole stream once its buffer passes a limit, so a
 * receiver slower than its sender (an SD card, a busy CPU) loses the transfer. Here the buffer holds at most
 * `bufferBytes` before the stream is paused; a paused yamux stream stops crediting its window, so the sender's
 * writes wait instead. What can arrive after the pause is bounded by the muxer's stream window.
 *
 * Every read and write that waits is under `idleTimeoutMs` of no progress (no byte in, no byte accepted out):
 * a peer that stops answering fails the call and resets the stream, however long the total may be. A total
 * deadline, where a protocol needs one, is the `signal`.
 */
export interface FramedStreamOptions {
  /** Largest frame accepted; a larger length prefix fails the read and resets the stream. */
  readonly maxFrameBytes: number;
  /** Buffered bytes above which the stream is paused. Defaults to one largest frame plus its prefix. */
  readonly bufferBytes?: number;
  /** Longest wait without progress for a pending read or write; Infinity where the protocol bounds it itself. */
  readonly idleTimeoutMs: number;
  /** Aborts every pending and later call, and resets the stream. */
  readonly signal?: AbortSignal;
  /** Shared by every stream of the process; default PROCESS_INBOUND_BUDGET. */
  readonly budget?: InboundBudget;
}

export interface CallOptions {
  /** This call's deadline: it ends the wait and leaves the stream to the caller (who usually aborts it). */
  readonly signal?: AbortSignal;
}

export class FrameTooLarge extends Error {
  override readonly name = 'FrameTooLarge';
}

export class NoProgress extends Error {
  override readonly name = 'NoProgress';
}

export class OverBudget extends Error {
  override readonly name = 'OverBudget';
}

/** A frame's length prefix is at most this long: 2^63 needs 9 bytes, and any frame we accept far fewer. */
const MAX_PREFIX_BYTES = 9;

export class FramedStream {
  readonly stream: Stream;
  readonly #maxFrame: number;
  readonly #highWater: number;
  #idleMs: number;
  readonly #buffer = new Uint8ArrayList();
  /** Fires on `abort()`, on the constructor's signal and when progress stops: every waiting call settles. */
  readonly #failed = new AbortController();
  readonly #wakers = new Set<() => void>();
  #resetBy: Error | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #waiting = 0;
  #resuming = false;
  readonly #budget: InboundBudget;
  /** Of the buffered bytes, those still counted in the budget: none once the stream has closed. */
  #counted = 0;

  constructor(stream: Stream, options: FramedStreamOptions) {
    this.stream = stream;
    this.#maxFrame = options.maxFrameBytes;
    this.#highWater = Math.max(options.bufferBytes ?? options.maxFrameBytes + MAX_PREFIX_BYTES, 1);
    this.#idleMs = options.idleTimeoutMs;
    this.#budget = options.budget ?? PROCESS_INBOUND_BUDGET;
    stream.addEventListener('message', (evt) => {
      if (this.#failed.signal.aborted) return;
      if (!this.#budget.take(evt.data.byteLength)) {
        this.abort(
          new OverBudget(
            `the agent already holds ${this.#budget.usedBytes} bytes of unread frames, its limit: try later`,
          ),
        );
        return;
      }
      this.#counted += evt.data.byteLength;
      this.#buffer.append(evt.data);
      this.#idleTimer?.refresh();
      if (!this.#resuming) this.#pauseWhenFull();
      this.#notify();
    });
    stream.addEventListener('remoteCloseWrite', () => this.#notify());
    stream.addEventListener('close', (evt) => {
      if (evt.error) this.#resetBy ??= evt.error;
      // What is left may still be read, but nothing more can arrive: the budget need not wait for the reader.
      this.#release(this.#counted);
      this.#notify();
    });
    if (stream.status === 'reset' || stream.status === 'aborted')
      this.#resetBy = new Error(`the stream was ${stream.status} before it was read`);
    const outer = options.signal;
    if (outer) {
      const onAbort = () => this.abort(reasonOf(outer));
      if (outer.aborted) queueMicrotask(onAbort);
      else {
        outer.addEventListener('abort', onAbort, { once: true });
        stream.addEventListener('close', () => outer.removeEventListener('abort', onAbort), { once: true });
      }
    }
  }

  /** Changes the progress deadline of later waits: a protocol may allow a long first wait, then short ones. */
  setIdleTimeout(ms: number): void {
    this.#idleMs = ms;
  }

  /**
   * Bytes received and not yet read. With the stream's own buffer, at most `bufferBytes` plus two muxer windows:
   * yamux credits a whole window when a paused stream resumes, while the window's worth it held is still here.
   */
  get bufferedBytes(): number {
    return this.#buffer.byteLength;
  }

  /**
   * The next frame, or undefined when the peer closed its side cleanly between frames. A call's `signal` ends
   * the wait, not the stream: nothing of a frame is consumed until it is whole, so a later read goes on.
   */
  async read(options?: CallOptions): Promise<Uint8Array | undefined> {
    let header = this.#decodeLength();
    while (!header) {
      if (this.#ended && this.#buffer.byteLength === 0) {
        this.#throwIfFailed();
        return undefined;
      }
      await this.#more(options?.signal);
      header = this.#decodeLength();
    }
    const { length, prefix } = header;
    if (length > this.#maxFrame)
      this.#fail(new FrameTooLarge(`frame too long: ${length} bytes, the limit is ${this.#maxFrame}`));
    while (this.#buffer.byteLength < prefix + length) await this.#more(options?.signal);
    const frame = this.#buffer.subarray(prefix, prefix + length);
    this.#buffer.consume(prefix + length);
    this.#release(prefix + length);
    if (this.#buffer.byteLength < this.#highWater / 2) this.#resume();
    return frame;
  }

  /**
   * Writes one frame; resolves once the muxer took it, waiting while the peer's window is closed. A call's
   * `signal` ends the wait; the frame is queued whole either way, so the framing stays intact.
   */
  async write(frame: Uint8Array | Uint8ArrayList, options?: CallOptions): Promise<void> {
    await this.#send(new Uint8ArrayList(varint.encode(frame.byteLength), frame), options?.signal);
  }

  /** Several frames in one write: one muxer frame, one encryption. */
  async writeV(frames: readonly Uint8Array[], options?: CallOptions): Promise<void> {
    const list = new Uint8ArrayList();
    for (const frame of frames) list.append(varint.encode(frame.byteLength), frame);
    await this.#send(list, options?.signal);
  }

  /** Closes the writing side once what was written has left, within the progress deadline. */
  async close(options?: CallOptions): Promise<void> {
    this.#throwIfFailed();
    const signal = options?.signal
      ? AbortSignal.any([this.#failed.signal, options.signal])
      : this.#failed.signal;
    const closing = this.stream.close({ signal });
    await this.#wait((resolve, reject) => {
      closing.then(resolve, reject);
      return () => {};
    }, options?.signal);
  }

  /** Resets the stream: pending and later calls fail with `error`. */
  abort(error: Error): void {
    if (!this.#failed.signal.aborted) this.#failed.abort(error);
    this.stream.abort(error);
    this.#notify();
  }

  async #send(bytes: Uint8ArrayList, signal: AbortSignal | undefined): Promise<void> {
    this.#throwIfFailed();
    this.stream.send(bytes);
    // Not 'drain': the muxer raises it on every stream whenever the socket drains, even one whose window is
    // still closed, so a writer that trusted it would pile frames up in the stream's write buffer. 'idle'
    // means the muxer took every byte: at most one write waits here.
    if (this.stream.writeBufferLength > 0 && this.stream.status === 'open') {
      await this.#wait((resolve) => {
        this.stream.addEventListener('idle', resolve);
        this.stream.addEventListener('close', resolve);
        return () => {
          this.stream.removeEventListener('idle', resolve);
          this.stream.removeEventListener('close', resolve);
        };
      }, signal);
    }
    this.#throwIfFailed();
  }

  /**
   * Nothing more will arrive: the peer closed its side (or the stream is gone) and the stream itself holds no
   * bytes still to hand over (it keeps them while paused, and for a moment after a listener is added).
   */
  get #ended(): boolean {
    if (this.stream.readBufferLength > 0) return false;
    return this.stream.remoteWriteStatus !== 'writable' || this.stream.status !== 'open';
  }

  #decodeLength(): { length: number; prefix: number } | undefined {
    const available = Math.min(this.#buffer.byteLength, MAX_PREFIX_BYTES);
    for (let i = 0; i < available; i++) {
      if ((this.#buffer.get(i) & 0x80) === 0)
        return { length: varint.decode(this.#buffer.subarray(0, i + 1)), prefix: i + 1 };
    }
    if (available === MAX_PREFIX_BYTES) this.#fail(new FrameTooLarge('frame length prefix too long'));
    return undefined;
  }

  /** Waits for more bytes, resuming a paused stream first: the reader wants them now. */
  async #more(signal: AbortSignal | undefined): Promise<void> {
    this.#throwIfFailed();
    if (this.#ended) this.#fail(new Error('the stream ended in the middle of a frame'));
    const before = this.#buffer.byteLength;
    this.#resume();
    if (this.#buffer.byteLength > before) return;
    await this.#wait((resolve) => {
      this.#wakers.add(resolve);
      return () => this.#wakers.delete(resolve);
    }, signal);
    this.#throwIfFailed();
  }

  #pauseWhenFull(): void {
    if (this.#buffer.byteLength >= this.#highWater && this.stream.readStatus === 'readable')
      this.stream.pause();
  }

  /**
   * `resume()` first hands over what the stream held while paused, then tells yamux to credit the window again:
   * pausing from inside that hand-over would be undone at once, and the sender could fill the stream's buffer
   * up to its hard limit, which resets the stream. So pause, if still full, only after `resume()` returned.
   */
  #resume(): void {
    if (this.stream.readStatus !== 'paused') return;
    this.#resuming = true;
    try {
      this.stream.resume();
    } finally {
      this.#resuming = false;
    }
    this.#pauseWhenFull();
  }

  #release(bytes: number): void {
    const given = Math.min(bytes, this.#counted);
    this.#counted -= given;
    this.#budget.give(given);
  }

  #notify(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  #fail(error: Error): never {
    this.abort(error);
    throw error;
  }

  #throwIfFailed(): void {
    if (this.#failed.signal.aborted) throw reasonOf(this.#failed.signal);
    if (this.#resetBy) throw this.#resetBy;
  }

  /**
   * Waits until `arm`'s callback fires (arm returns how to disarm), under the progress deadline that bytes
   * arriving restart and whose expiry resets the stream; `signal` ends just this wait.
   */
  async #wait(
    arm: (resolve: () => void, reject: (err: unknown) => void) => () => void,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    signal?.throwIfAborted();
    if (this.#waiting++ === 0 && Number.isFinite(this.#idleMs)) {
      this.#idleTimer = setTimeout(
        () => this.abort(new NoProgress(`no progress for ${this.#idleMs} ms`)),
        this.#idleMs,
      );
      this.#idleTimer.unref?.();
    }
    let disarm = () => {};
    let onAbort = () => {};
    try {
      await new Promise<void>((resolve, reject) => {
        disarm = arm(resolve, reject);
        onAbort = () => reject(reasonOf(signal as AbortSignal));
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    } finally {
      disarm();
      signal?.removeEventListener('abort', onAbort);
      if (--this.#waiting === 0) {
        clearTimeout(this.#idleTimer);
        this.#idleTimer = undefined;
      }
    }
  }
}

function reasonOf(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(String(reason ?? 'aborted'));
}
