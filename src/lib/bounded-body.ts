/** Limits on one response body: what a server we do not control may cost us. */
export interface BodyLimits {
  /** The body is refused once it passes this many bytes, announced or not. */
  readonly maxBytes: number;
  /** Longest silence between two chunks. */
  readonly stallMs: number;
  /** Deadline for the whole body, from the call. */
  readonly totalMs?: number;
  /**
   * For bodies too large for a fixed deadline (layers): every `stallMs` must bring at least this many bytes, so
   * a server that sends a byte just before each silence would count as one ends too.
   */
  readonly minBytesPerStall?: number;
  /** The caller giving up (its own deadline, shutdown). */
  readonly signal?: AbortSignal;
  /** Names the body in errors, e.g. "manifest from registry-1.docker.io". */
  readonly what: string;
}

/** What is read of an answer: a fetch Response, or meshctl's lighter node:http answer (src/cli/http-call.ts). */
export interface BodySource {
  readonly headers: { get(name: string): string | null };
  readonly body: ReadableStream<Uint8Array> | null;
}

export class BodyLimitError extends Error {
  override readonly name = 'BodyLimitError';
  /** Bytes read before the read was cut off. */
  readonly bytesRead: number;
  constructor(message: string, bytesRead: number) {
    super(message);
    this.bytesRead = bytesRead;
  }
}

/**
 * Reads a fetch response's body whole, within `limits` (which need `totalMs`). `arrayBuffer()`/`json()`/`text()`
 * trust the server: a chunked body without a length, or one that trickles a byte a minute, holds memory or the
 * caller without bound.
 */
export async function readBoundedBody(
  res: BodySource,
  limits: BodyLimits & { readonly totalMs: number },
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of streamBoundedBody(res, limits)) parts.push(chunk);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * A fetch response's body chunk by chunk, within `limits`. Past a limit, or when the consumer stops early, the
 * body stream is cancelled, which aborts the request and closes its connection.
 */
export async function* streamBoundedBody(res: BodySource, limits: BodyLimits): AsyncGenerator<Uint8Array> {
  const announced = res.headers.get('content-length');
  if (announced !== null && Number(announced) > limits.maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new BodyLimitError(
      `${limits.what} announces ${announced} bytes, more than the ${limits.maxBytes} allowed`,
      0,
    );
  }
  if (!res.body) return;
  const reader = res.body.getReader();
  let read = 0;
  const clock = new BodyClock(limits, () => read);
  let windowStart = Date.now();
  let windowBytes = 0;
  let done = false;
  try {
    while (true) {
      const next = await clock.race(reader.read());
      if (next.done) {
        done = true;
        return;
      }
      read += next.value.length;
      if (read > limits.maxBytes)
        throw new BodyLimitError(`${limits.what} is larger than the ${limits.maxBytes} bytes allowed`, read);
      windowBytes += next.value.length;
      if (limits.minBytesPerStall !== undefined && Date.now() - windowStart >= limits.stallMs) {
        if (windowBytes < limits.minBytesPerStall)
          throw new BodyLimitError(
            `${limits.what} sent ${windowBytes} bytes in ${limits.stallMs} ms, less than the ` +
              `${limits.minBytesPerStall} needed to count as progress (${read} bytes read)`,
            read,
          );
        windowStart = Date.now();
        windowBytes = 0;
      }
      yield next.value;
    }
  } finally {
    clock.stop();
    if (!done) await reader.cancel().catch(() => {});
  }
}

/** The deadlines of one body read: a read races them, and loses to whichever fires first. */
class BodyClock {
  readonly #limits: BodyLimits;
  readonly #bytesRead: () => number;
  readonly #started = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #cancelled: ((err: Error) => void) | undefined;
  readonly #onAbort = () => this.#cancelled?.(this.#cancelledError());

  constructor(limits: BodyLimits, bytesRead: () => number) {
    this.#limits = limits;
    this.#bytesRead = bytesRead;
    limits.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  #cancelledError(): BodyLimitError {
    return new BodyLimitError(`${this.#limits.what}: read cancelled`, this.#bytesRead());
  }

  race<T>(read: Promise<T>): Promise<T> {
    const { stallMs, totalMs, what, signal } = this.#limits;
    if (signal?.aborted) return Promise.reject(this.#cancelledError());
    const left = totalMs === undefined ? Number.POSITIVE_INFINITY : totalMs - (Date.now() - this.#started);
    const total = left <= stallMs;
    const deadline = new Promise<never>((_, reject) => {
      this.#cancelled = reject;
      this.#timer = setTimeout(
        () => {
          const n = this.#bytesRead();
          reject(
            new BodyLimitError(
              total
                ? `${what} took longer than ${totalMs} ms (${n} bytes read)`
                : `${what} sent nothing for ${stallMs} ms (${n} bytes read)`,
              n,
            ),
          );
        },
        Math.max(0, Math.min(left, stallMs)),
      );
    });
    return Promise.race([read, deadline]).finally(() => clearTimeout(this.#timer));
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#limits.signal?.removeEventListener('abort', this.#onAbort);
  }
}
