import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

/** What meshctl reads of an answer: the part of fetch's Response it used. */
export interface HttpAnswer {
  readonly ok: boolean;
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  readonly body: ReadableStream<Uint8Array>;
}

export interface HttpCallInit {
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body?: string | undefined;
  /** Ends the call, headers or body, as fetch's signal does. */
  readonly signal: AbortSignal;
}

/**
 * One call to the agent's control API over node:http rather than fetch: on Node 20 the first fetch loads undici,
 * about 90 ms of CPU, more than all the rest of `meshctl status` (issue 22). It fails the way fetch did, which
 * api-client's messages rely on: a connection error rejects with the socket's error as `cause` (its `code` says
 * whether the request left), an aborted signal with the signal's reason (a TimeoutError).
 */
export async function httpCall(url: URL, init: HttpCallInit): Promise<HttpAnswer> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`${url.protocol} is not http: or https:`);
  }
  const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const { signal } = init;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const headers = { ...init.headers };
    if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
    // A connection per call, closed after it: meshctl makes one or two, and exits as soon as they are done.
    const req = request(url, { method: init.method, headers, agent: false });
    const onAbort = () => {
      req.destroy(signal.reason);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(new Error(`request to ${url.origin} failed: ${err.message}`, { cause: err }));
    });
    req.on('response', (res: IncomingMessage) => {
      res.on('close', () => signal.removeEventListener('abort', onAbort));
      const status = res.statusCode ?? 0;
      resolve({
        ok: status >= 200 && status < 300,
        status,
        headers: { get: (name) => headerValue(res.headers[name.toLowerCase()]) },
        body: Readable.toWeb(res) as ReadableStream<Uint8Array>,
      });
    });
    req.end(init.body);
  });
}

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}
