/** Limits on one response body: what a server we do not control may cost us. */
export interface BodyLimits {
  /** The body is refused once it passes this many bytes, announced or not. */
  readonly maxBytes: number;
  /** Deadline for the whole body, from the call. */
  readonly totalMs: number;
  /** Longest silence between two chunks. */
  readonly stallMs: number;
  /** The caller giving up (its own deadline, shutdown). */
  readonly signal?: AbortSignal;
  /** Names the body in errors, e.g. "manifest from registry-1.docker.io". */
  readonly what: string;
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
 * Reads a fetch response's body with a hard byte limit enforced while it streams, and deadlines for the whole
 * body and for each silence. `arrayBuffer()`/`json()`/`text()` trust the server: a chunked body without a
 * length, or one that trickles a byte a minute, holds memory or the caller without bound. Past a limit the body
 * stream is cancelled, which aborts the request and closes its connection.
 */
export async function readBoundedBody(res: Response, limits: BodyLimits): Promise<Uint8Array> {
  const announced = res.headers.get('content-length');
  if (announced !== null && Number(announced) > limits.maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new BodyLimitError(
      `${limits.what} announces ${announced} bytes, more than the ${limits.maxBytes} allowed`,
      0,
    );
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let read = 0;
  let timer: NodeJS.Timeout | undefined;
  let fail: ((err: Error) => void) | undefined;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  // Never awaited when the body ends first.
  failed.catch(() => {});
  const started = Date.now();
  const onAbort = () => fail?.(new BodyLimitError(`${limits.what}: read cancelled`, read));
  limits.signal?.addEventListener('abort', onAbort, { once: true });
  if (limits.signal?.aborted) onAbort();
  try {
    while (true) {
      clearTimeout(timer);
      const left = limits.totalMs - (Date.now() - started);
      const wait = Math.max(0, Math.min(left, limits.stallMs));
      const total = left <= limits.stallMs;
      timer = setTimeout(() => {
        fail?.(
          new BodyLimitError(
            total
              ? `${limits.what} took longer than ${limits.totalMs} ms (${read} bytes read)`
              : `${limits.what} sent nothing for ${limits.stallMs} ms (${read} bytes read)`,
            read,
          ),
        );
      }, wait);
      const next = await Promise.race([reader.read(), failed]);
      if (next.done) break;
      read += next.value.length;
      if (read > limits.maxBytes)
        throw new BodyLimitError(`${limits.what} is larger than the ${limits.maxBytes} bytes allowed`, read);
      parts.push(next.value);
    }
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
    limits.signal?.removeEventListener('abort', onAbort);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
