/**
 * The messages of an operator's command to one copy (`meshctl alloc exec`, `alloc restart`), as bytes. The same
 * frames travel meshctl → agent (WebSocket messages) and agent → owner (length-prefixed on a libp2p stream), so
 * an agent that relays needs to read only the first. First byte: the kind. The request is JSON checked by a
 * schema and a size limit; data frames carry raw bytes, at most MAX_EXEC_DATA each.
 */
import { z } from 'zod';
import type { AllocCommand } from '../../crdt/alloc-command-auth.js';
import { parseJson } from '../../lib/json-text.js';

export const MAX_EXEC_DATA = 32 * 1024;
const MAX_EXEC_REQUEST = 24 * 1024;
/** Any frame: a data frame at its largest, or a request. */
export const MAX_EXEC_FRAME = Math.max(MAX_EXEC_DATA + 1, MAX_EXEC_REQUEST);
const MAX_ARGS = 128;
const MAX_COMMAND_CHARS = 16 * 1024;
const ALLOC_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const KIND = {
  request: 1,
  stdin: 2,
  stdinEnd: 3,
  resize: 4,
  open: 10,
  stdout: 11,
  stderr: 12,
  exit: 13,
  error: 14,
} as const;

const dimension = z.number().int().min(1).max(10_000);
const execRequestSchema = z
  .object({
    kind: z.enum(['exec', 'restart']),
    allocId: z.string().regex(ALLOC_ID, 'not an allocation id'),
    command: z
      .array(z.string().max(MAX_COMMAND_CHARS))
      .max(MAX_ARGS)
      .refine((c) => c.reduce((n, a) => n + a.length, 0) <= MAX_COMMAND_CHARS, 'command over 16 KiB'),
    tty: z.boolean(),
    stdin: z.boolean(),
    cols: dimension.optional(),
    rows: dimension.optional(),
    at: z.number().int().min(0),
    nonce: z.string().min(16).max(64),
    auth: z
      .object({ signer: z.string().min(1).max(128), sig: z.string().max(128) })
      .strict()
      .optional(),
  })
  .strict()
  .refine((r) => r.kind === 'restart' || r.command.length > 0, 'exec needs a command')
  .refine(
    (r) => r.kind === 'exec' || (r.command.length === 0 && !r.tty && !r.stdin),
    'a restart runs nothing',
  );
export type ExecRequest = z.output<typeof execRequestSchema>;

/** What the operator's signature covers. */
export function commandOf(r: ExecRequest): AllocCommand {
  return { kind: r.kind, allocId: r.allocId, command: r.command, tty: r.tty, at: r.at, nonce: r.nonce };
}

export type ExecErrorCode =
  | 'bad-request'
  | 'forbidden'
  | 'not-owner'
  | 'not-found'
  | 'busy'
  | 'unsupported'
  | 'failed'
  | 'unreachable'
  | 'timeout';
const CODES = [
  'bad-request',
  'forbidden',
  'not-owner',
  'not-found',
  'busy',
  'unsupported',
  'failed',
  'unreachable',
  'timeout',
] as const;
const errorSchema = z.object({ code: z.enum(CODES), message: z.string().max(4096) });

export type ExecFrame =
  | { readonly kind: 'request'; readonly request: ExecRequest }
  | { readonly kind: 'stdin' | 'stdout' | 'stderr'; readonly data: Uint8Array }
  | { readonly kind: 'stdinEnd' }
  | { readonly kind: 'resize'; readonly cols: number; readonly rows: number }
  /** The owner accepted: output follows. */
  | { readonly kind: 'open' }
  | { readonly kind: 'exit'; readonly code: number }
  | { readonly kind: 'error'; readonly code: ExecErrorCode; readonly message: string };

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string };

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function tagged(kind: number, body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(1 + body.length);
  frame[0] = kind;
  frame.set(body, 1);
  return frame;
}

export function encodeExecFrame(frame: ExecFrame): Uint8Array {
  switch (frame.kind) {
    case 'request':
      return tagged(KIND.request, utf8.encode(JSON.stringify(frame.request)));
    case 'stdin':
    case 'stdout':
    case 'stderr':
      return tagged(KIND[frame.kind], frame.data);
    case 'stdinEnd':
    case 'open':
      return Uint8Array.of(KIND[frame.kind]);
    case 'resize': {
      const bytes = new Uint8Array(5);
      bytes[0] = KIND.resize;
      new DataView(bytes.buffer).setUint16(1, Math.min(frame.cols, 65_535));
      new DataView(bytes.buffer).setUint16(3, Math.min(frame.rows, 65_535));
      return bytes;
    }
    case 'exit': {
      const bytes = new Uint8Array(5);
      bytes[0] = KIND.exit;
      new DataView(bytes.buffer).setInt32(1, frame.code);
      return bytes;
    }
    case 'error':
      return tagged(
        KIND.error,
        utf8.encode(JSON.stringify({ code: frame.code, message: frame.message.slice(0, 4096) })),
      );
  }
}

/** Output longer than a frame may carry, as several frames. */
export function dataFrames(kind: 'stdin' | 'stdout' | 'stderr', data: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += MAX_EXEC_DATA)
    frames.push(encodeExecFrame({ kind, data: data.subarray(at, at + MAX_EXEC_DATA) }));
  return frames;
}

export function decodeExecFrame(bytes: Uint8Array): Decoded<ExecFrame> {
  if (bytes.length === 0) return { ok: false, error: 'empty frame' };
  const body = bytes.subarray(1);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (bytes[0]) {
    case KIND.request: {
      if (bytes.length > MAX_EXEC_REQUEST)
        return { ok: false, error: `request over ${MAX_EXEC_REQUEST} bytes` };
      let raw: unknown;
      try {
        raw = parseJson(strictUtf8.decode(body));
      } catch {
        return { ok: false, error: 'request is not JSON' };
      }
      const parsed = execRequestSchema.safeParse(raw);
      if (parsed.success) return { ok: true, value: { kind: 'request', request: parsed.data } };
      const issue = parsed.error.issues[0];
      return { ok: false, error: `bad request: ${issue?.path.join('.') || 'body'}: ${issue?.message}` };
    }
    case KIND.stdin:
    case KIND.stdout:
    case KIND.stderr: {
      if (body.length > MAX_EXEC_DATA) return { ok: false, error: `data frame over ${MAX_EXEC_DATA} bytes` };
      const kind = bytes[0] === KIND.stdin ? 'stdin' : bytes[0] === KIND.stdout ? 'stdout' : 'stderr';
      return { ok: true, value: { kind, data: body } };
    }
    case KIND.stdinEnd:
    case KIND.open:
      if (body.length > 0) return { ok: false, error: 'bare frame with a body' };
      return { ok: true, value: { kind: bytes[0] === KIND.open ? 'open' : 'stdinEnd' } };
    case KIND.resize:
      if (bytes.length !== 5) return { ok: false, error: 'malformed resize frame' };
      return { ok: true, value: { kind: 'resize', cols: view.getUint16(1), rows: view.getUint16(3) } };
    case KIND.exit:
      if (bytes.length !== 5) return { ok: false, error: 'malformed exit frame' };
      return { ok: true, value: { kind: 'exit', code: view.getInt32(1) } };
    case KIND.error: {
      try {
        const parsed = errorSchema.safeParse(parseJson(strictUtf8.decode(body)));
        if (parsed.success) return { ok: true, value: { kind: 'error', ...parsed.data } };
      } catch {}
      return { ok: false, error: 'malformed error frame' };
    }
    default:
      return { ok: false, error: `unknown frame kind ${bytes[0]}` };
  }
}
