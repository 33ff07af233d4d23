import { BodyLimitError, readBoundedBody } from '../lib/bounded-body.js';
import { parseJson } from '../lib/json-text.js';
import { type HttpAnswer, httpCall } from './http-call.js';

/** Far above any answer of a 10,000-device mesh; below what would hurt meshctl's memory. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** meshctl's side of the control API: every call has a timeout and fails with one line that says what to do. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/**
 * A change the agent may or may not have carried out: the request left, then the connection broke or the answer
 * did not come in time. Saying "cannot reach" here would invite a blind retry of something already stored.
 */
export class OutcomeUnknown extends CliError {}

/** Failures that happen before a request leaves: the agent cannot have seen it. */
const NEVER_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOENT',
  'EACCES',
  'EPERM',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export interface ApiClient {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  delete<T>(path: string): Promise<T>;
  stream(path: string, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>>;
}

/** `token` is asked once, on the first call, so commands that never reach the agent never read it. */
export function apiClient(
  base: string,
  token: () => Promise<string | undefined> = async () => undefined,
  timeoutMs = 10_000,
): ApiClient {
  let tokenOnce: Promise<string | undefined> | undefined;
  let root: URL;
  try {
    root = new URL(base);
  } catch {
    throw new CliError(`--api "${base}" is not a URL; expected something like http://127.0.0.1:7411`, 2);
  }
  // What answers on the API's address may not be the agent: its body gets a bound like any other.
  const read = async (res: HttpAnswer): Promise<string> => {
    try {
      const bytes = await readBoundedBody(res, {
        maxBytes: MAX_ANSWER_BYTES,
        totalMs: timeoutMs,
        stallMs: timeoutMs,
        what: `the answer from ${root.origin}`,
      });
      return new TextDecoder().decode(bytes);
    } catch (err) {
      if (!(err instanceof BodyLimitError)) throw err;
      throw new CliError(`${err.message}: is meshd what listens there? Set --api or MESH_API`);
    }
  };
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    signal: AbortSignal = AbortSignal.timeout(timeoutMs),
  ): Promise<HttpAnswer> => {
    let res: HttpAnswer;
    tokenOnce ??= token();
    const bearer = await tokenOnce;
    const headers: Record<string, string> = bearer ? { authorization: `Bearer ${bearer}` } : {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      res = await httpCall(new URL(path, root), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      if (method !== 'GET' && !NEVER_SENT.has(cause)) throw outcomeUnknown(root, cause);
      throw new CliError(
        `cannot reach the agent at ${root.origin} (${cause}): is meshd running there? Set --api or MESH_API`,
      );
    }
    if (!res.ok) {
      const text = await read(res);
      let message = text;
      try {
        message = (parseJson(text) as { error?: string }).error ?? text;
      } catch {}
      throw new CliError(message || `agent answered ${res.status}`);
    }
    return res;
  };
  const json = async (res: HttpAnswer): Promise<unknown> => parseJson(await read(res));
  /** A change's answer lost on the way (the body cut short) leaves its outcome as unknown as no answer. */
  const answerOf = async (res: HttpAnswer): Promise<unknown> => {
    let text: string;
    try {
      text = await read(res);
    } catch (err) {
      const e = err as { cause?: { code?: string }; code?: string; name: string };
      throw outcomeUnknown(root, e.cause?.code ?? e.code ?? e.name);
    }
    try {
      return parseJson(text);
    } catch {
      throw outcomeUnknown(root, 'the answer was cut short');
    }
  };
  return {
    get: async (path) => json(await call('GET', path)),
    post: async (path, body) => answerOf(await call('POST', path, body)),
    delete: async (path) => answerOf(await call('DELETE', path)),
    stream: async (path, signal) => {
      // The deadline covers the answer's headers only (the agent may have to reach another device first);
      // the body lasts as long as the agent streams it.
      const headers = new AbortController();
      const timer = setTimeout(() => headers.abort(), 3 * timeoutMs);
      try {
        const res = await call(
          'GET',
          path,
          undefined,
          signal ? AbortSignal.any([signal, headers.signal]) : headers.signal,
        );
        if (!res.body) throw new CliError('agent sent no stream');
        return brokenStreamSaid(res.body, root, signal);
      } finally {
        clearTimeout(timer);
      }
    },
  } as ApiClient;
}

/** A stream the agent cuts mid-way (it stopped or restarted) says so, not Node's bare "aborted". */
async function* brokenStreamSaid(
  body: AsyncIterable<Uint8Array>,
  root: URL,
  signal: AbortSignal | undefined,
): AsyncIterable<Uint8Array> {
  try {
    yield* body;
  } catch (err) {
    if (signal?.aborted || err instanceof CliError) throw err;
    const cause = (err as { code?: string }).code ?? (err as Error).message;
    throw new CliError(
      `the agent at ${root.origin} broke off the stream (${cause}): is meshd still running?`,
    );
  }
}

function outcomeUnknown(root: URL, cause: string): OutcomeUnknown {
  return new OutcomeUnknown(
    `the connection to the agent at ${root.origin} broke before it answered (${cause}): the outcome is unknown`,
  );
}
