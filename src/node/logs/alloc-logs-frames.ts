/**
 * The messages of the alloc-logs stream protocol, as bytes. The asker sends one request (JSON, checked by a
 * schema and a size limit); the owner answers with frames whose first byte says what they are. Lines travel
 * as raw UTF-8 behind a stream byte, not as JSON, so a log line costs two bytes of framing and no escaping.
 * Every frame fits `MAX_LOG_FRAME`: a longer line is cut into pieces at character boundaries, as the drivers'
 * line splitter already does for lines that never end.
 */
import { z } from 'zod';
import { parseJson } from '../../lib/json-text.js';
import type { LogLine } from '../drivers/driver.js';

export const MAX_LOG_REQUEST = 1024;
/**
 * Bytes of line frames the owner may send before the asker grants more. Flow control is the protocol's own:
 * a stream muxer's window grows to many MB on a fast link, and a slow reader (a paused `less`) must hold the
 * owner back, not buffer the log. The asker grants again as it consumes, so a link carries a window per RTT.
 */
export const INITIAL_CREDIT = 256 * 1024;
const MAX_GRANT = 16 * 1024 * 1024;
const CREDIT_KIND = 6;
/** Bytes of line text in one frame; a line splitter emits at most 64 Ki characters, which may be more bytes. */
export const MAX_LINE_BYTES = 16 * 1024;
export const MAX_LOG_FRAME = MAX_LINE_BYTES + 2;
/** More lines of history than any device keeps (the exec driver keeps a few MB per stream). */
export const MAX_TAIL = 1_000_000;
/** A year: `--since` beyond that asks for everything, which is what omitting it does. */
const MAX_SINCE_MS = 365 * 24 * 3_600_000;
const ALLOC_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const logRequestSchema = z
  .object({
    allocId: z.string().regex(ALLOC_ID, 'not an allocation id'),
    follow: z.boolean(),
    tail: z.number().int().min(0).max(MAX_TAIL).optional(),
    /** Lines of the last `sinceMs` ms by the owner's clock: devices' clocks disagree, an age does not. */
    sinceMs: z.number().int().min(0).max(MAX_SINCE_MS).optional(),
    stream: z.enum(['stdout', 'stderr']).optional(),
  })
  .strict();
export type LogRequest = z.output<typeof logRequestSchema>;

/** The asker's only message after its request: `bytes` more of line frames may come. */
export function encodeCredit(bytes: number): Uint8Array {
  const frame = new Uint8Array(5);
  frame[0] = CREDIT_KIND;
  new DataView(frame.buffer).setUint32(1, bytes);
  return frame;
}

export function decodeCredit(bytes: Uint8Array): Decoded<number> {
  if (bytes.length !== 5 || bytes[0] !== CREDIT_KIND) return { ok: false, error: 'not a credit frame' };
  const grant = new DataView(bytes.buffer, bytes.byteOffset, 5).getUint32(1);
  if (grant === 0 || grant > MAX_GRANT) return { ok: false, error: `credit of ${grant} bytes` };
  return { ok: true, value: grant };
}

/** Why the owner refused or ended a session; the asker shows the message to the operator. */
export type LogErrorCode = 'bad-request' | 'not-owner' | 'not-found' | 'busy' | 'unsupported' | 'failed';
const errorSchema = z.object({
  code: z.enum(['bad-request', 'not-owner', 'not-found', 'busy', 'unsupported', 'failed']),
  message: z.string().max(2048),
});

export type LogFrame =
  /** The owner accepted the request; lines follow. */
  | { readonly kind: 'open' }
  | { readonly kind: 'line'; readonly line: LogLine }
  /** Nothing to say, but alive: lets a follow tell a quiet workload from a dead owner. */
  | { readonly kind: 'keepalive' }
  /** The log is over (not following, or the workload exited). */
  | { readonly kind: 'end' }
  | { readonly kind: 'error'; readonly code: LogErrorCode; readonly message: string };

const KIND = { open: 1, line: 2, keepalive: 3, end: 4, error: 5 } as const;
const STREAM = { stdout: 1, stderr: 2 } as const;

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string };

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function encodeRequest(request: LogRequest): Uint8Array {
  return utf8.encode(JSON.stringify(request));
}

export function decodeRequest(bytes: Uint8Array): Decoded<LogRequest> {
  if (bytes.length > MAX_LOG_REQUEST) return { ok: false, error: `request over ${MAX_LOG_REQUEST} bytes` };
  let raw: unknown;
  try {
    raw = parseJson(strictUtf8.decode(bytes));
  } catch {
    return { ok: false, error: 'request is not JSON' };
  }
  const parsed = logRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, error: `bad request: ${issue?.path.join('.') || 'body'}: ${issue?.message}` };
  }
  return { ok: true, value: parsed.data };
}

/** One frame per line, or several when the line is longer than a frame may carry. */
export function encodeLine(line: LogLine): Uint8Array[] {
  const bytes = utf8.encode(line.line);
  const frames: Uint8Array[] = [];
  let start = 0;
  do {
    let end = Math.min(bytes.length, start + MAX_LINE_BYTES);
    // Never split a character: back up to the first byte of the one that straddles the cut.
    while (end < bytes.length && end > start && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
    const frame = new Uint8Array(2 + end - start);
    frame[0] = KIND.line;
    frame[1] = STREAM[line.stream];
    frame.set(bytes.subarray(start, end), 2);
    frames.push(frame);
    start = end;
  } while (start < bytes.length);
  return frames;
}

export function encodeFrame(frame: Exclude<LogFrame, { kind: 'line' }>): Uint8Array {
  if (frame.kind !== 'error') return Uint8Array.of(KIND[frame.kind]);
  const body = utf8.encode(JSON.stringify({ code: frame.code, message: frame.message.slice(0, 2048) }));
  const bytes = new Uint8Array(1 + body.length);
  bytes[0] = KIND.error;
  bytes.set(body, 1);
  return bytes;
}

export function decodeFrame(bytes: Uint8Array): Decoded<LogFrame> {
  if (bytes.length > MAX_LOG_FRAME) return { ok: false, error: `frame over ${MAX_LOG_FRAME} bytes` };
  const kind = bytes[0];
  const bare = (value: LogFrame): Decoded<LogFrame> =>
    bytes.length === 1 ? { ok: true, value } : { ok: false, error: `${value.kind} frame with a body` };
  switch (kind) {
    case KIND.open:
      return bare({ kind: 'open' });
    case KIND.keepalive:
      return bare({ kind: 'keepalive' });
    case KIND.end:
      return bare({ kind: 'end' });
    case KIND.line: {
      const stream =
        bytes[1] === STREAM.stdout ? 'stdout' : bytes[1] === STREAM.stderr ? 'stderr' : undefined;
      if (!stream) return { ok: false, error: 'line frame without a stream' };
      try {
        return {
          ok: true,
          value: { kind: 'line', line: { stream, line: strictUtf8.decode(bytes.subarray(2)) } },
        };
      } catch {
        return { ok: false, error: 'line frame is not UTF-8' };
      }
    }
    case KIND.error: {
      try {
        const parsed = errorSchema.safeParse(parseJson(strictUtf8.decode(bytes.subarray(1))));
        if (parsed.success) return { ok: true, value: { kind: 'error', ...parsed.data } };
      } catch {}
      return { ok: false, error: 'malformed error frame' };
    }
    default:
      return { ok: false, error: `unknown frame kind ${kind ?? '(empty)'}` };
  }
}
