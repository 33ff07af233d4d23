import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Logger } from 'pino';

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface ApiRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  /** The JSON body, size-limited; a malformed body is a 400 that says so. */
  body(): Promise<unknown>;
  signal: AbortSignal;
}

export type ApiResponse =
  | { json: unknown; status?: number }
  | { text: string; contentType: string; status?: number }
  /** Server-side streaming (logs -f): each chunk is written as it comes; the signal aborts on client disconnect. */
  | { stream: AsyncIterable<string>; contentType: string };

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** `/v1/jobs/:name` style; segments starting with `:` are captured. */
  path: string;
  handler(req: ApiRequest): Promise<ApiResponse> | ApiResponse;
}

const MAX_BODY_BYTES = 1024 * 1024;

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1';
}

export function splitHostPort(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}

/**
 * The local control API that meshctl talks to: JSON over HTTP. It binds loopback unless the operator opts in,
 * because it can steer the whole mesh.
 */
export class ControlApi {
  readonly #routes: { method: string; segments: string[]; route: Route }[];
  readonly #log: Logger;
  #server: Server | undefined;

  constructor(routes: Route[], log: Logger) {
    this.#routes = routes.map((route) => ({ method: route.method, segments: route.path.split('/'), route }));
    this.#log = log;
  }

  async listen(address: string, allowRemote: boolean): Promise<{ host: string; port: number }> {
    const { host, port } = splitHostPort(address);
    if (!isLoopbackHost(host) && !allowRemote) {
      throw new Error(
        `refusing to serve the control API on ${address}: it is not a loopback address. ` +
          'Anyone who reaches it can steer the mesh; pass --allow-remote-api to do it anyway',
      );
    }
    const server = createServer((req, res) => void this.#handle(req, res));
    server.requestTimeout = 30_000;
    server.headersTimeout = 10_000;
    server.maxHeadersCount = 50;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    const bound = server.address();
    return typeof bound === 'object' && bound ? { host: bound.address, port: bound.port } : { host, port };
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://api');
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    try {
      const match = this.#match(req.method ?? 'GET', url.pathname);
      const response = await match.route.handler({
        params: match.params,
        query: url.searchParams,
        body: () => readJsonBody(req),
        signal: abort.signal,
      });
      await send(res, response, abort.signal);
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 500;
      if (status === 500) this.#log.error({ err, path: url.pathname }, 'control API handler failed');
      if (!res.headersSent) {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: (err as Error).message }));
      } else {
        res.end();
      }
    }
  }

  #match(method: string, pathname: string): { route: Route; params: Record<string, string> } {
    const parts = pathname.split('/');
    let pathMatched = false;
    for (const candidate of this.#routes) {
      if (candidate.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      const ok = candidate.segments.every((segment, i) => {
        const part = parts[i] ?? '';
        if (segment.startsWith(':')) {
          params[segment.slice(1)] = decodeURIComponent(part);
          return part.length > 0;
        }
        return segment === part;
      });
      if (!ok) continue;
      pathMatched = true;
      if (candidate.method === method) return { route: candidate.route, params };
    }
    throw pathMatched
      ? new ApiError(405, `${method} is not allowed on ${pathname}`)
      : new ApiError(404, `no such endpoint: ${pathname}`);
  }
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ApiError(400, 'request body is not valid JSON');
  }
}

async function send(res: ServerResponse, response: ApiResponse, signal: AbortSignal): Promise<void> {
  if ('json' in response) {
    res.writeHead(response.status ?? 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(response.json));
    return;
  }
  if ('text' in response) {
    res.writeHead(response.status ?? 200, { 'content-type': response.contentType });
    res.end(response.text);
    return;
  }
  res.writeHead(200, { 'content-type': response.contentType, 'cache-control': 'no-store' });
  for await (const chunk of response.stream) {
    if (signal.aborted) break;
    // A client that leaves while its buffer is full never drains: 'close' must end the wait too.
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  }
  res.end();
}
