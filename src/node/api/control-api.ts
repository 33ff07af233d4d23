import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { closeHttp, type HttpLimits, isLoopbackHost, listenHttp } from '../../lib/http-server.js';
import { parseJson } from '../../lib/json-text.js';
import { isAddressInUse, StartupError } from '../../lib/startup-error.js';
import { bearerMatches } from './api-token.js';
import type { BrowserSessions } from './ui/browser-sessions.js';

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
  | { text: string; contentType: string; status?: number; headers?: Readonly<Record<string, string>> }
  /** Server-side streaming (logs -f): each chunk is written as it comes; the signal aborts on client disconnect. */
  | { stream: AsyncIterable<string>; contentType: string };

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** `/v1/jobs/:name` style; segments starting with `:` are captured. */
  path: string;
  handler(req: ApiRequest): Promise<ApiResponse> | ApiResponse;
}

/**
 * A route that takes the connection over (HTTP Upgrade, e.g. a WebSocket): `meshctl alloc exec`. It is
 * authenticated like any other call, by the bearer token only: a browser session never upgrades.
 */
export interface UpgradeRoute {
  path: string;
  handle(req: IncomingMessage, socket: Duplex, head: Buffer, params: Record<string, string>): void;
}

const MAX_BODY_BYTES = 1024 * 1024;
/**
 * A load balancer or supervisor may probe liveness without the token, and a browser may load the dashboard's
 * static page and trade a one-time login link for a session: none of them reveals anything.
 */
const OPEN_PATHS = new Set(['/healthz', '/ui', '/ui/app.js', '/ui/app.css', '/ui/login']);

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
  readonly #token: string | undefined;
  readonly #sessions: Pick<BrowserSessions, 'admits'> | undefined;
  readonly #limits: Partial<HttpLimits>;
  readonly #upgrades: { segments: string[]; route: UpgradeRoute }[] = [];
  readonly #upgraded = new Set<Duplex>();
  #server: Server | undefined;

  /**
   * With `auth`, every request but the open paths must carry `Authorization: Bearer <token>` (meshd always sets
   * it), or be a GET with a browser session's cookie: the dashboard reads, it never changes anything.
   */
  constructor(
    routes: Route[],
    log: Logger,
    auth?: { token: string; sessions?: Pick<BrowserSessions, 'admits'> },
    limits: Partial<HttpLimits> = {},
  ) {
    this.#routes = routes.map((route) => ({ method: route.method, segments: route.path.split('/'), route }));
    this.#log = log;
    this.#token = auth?.token;
    this.#sessions = auth?.sessions;
    this.#limits = limits;
  }

  /** Routes that take their connection over; add them before `listen`. */
  addUpgrades(routes: readonly UpgradeRoute[]): void {
    for (const route of routes) this.#upgrades.push({ segments: route.path.split('/'), route });
  }

  async listen(address: string, allowRemote: boolean): Promise<{ host: string; port: number }> {
    const { host, port } = splitHostPort(address);
    if (!isLoopbackHost(host) && !allowRemote) {
      throw new StartupError(
        `refusing to serve the control API on ${address}: it is not a loopback address. ` +
          'Anyone who reaches it can steer the mesh; pass --allow-remote-api to do it anyway',
      );
    }
    const server = await listenHttp((req, res) => this.#handle(req, res), host, port, this.#limits).catch(
      (err: unknown) => {
        if (!isAddressInUse(err)) throw err;
        throw new StartupError(
          `cannot serve the control API on ${address}: another process already uses that port ` +
            '(another meshd on this device?). Stop it, or give meshd another --api',
          { cause: err },
        );
      },
    );
    this.#server = server;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#upgrade(req, socket, head),
    );
    const bound = server.address();
    return typeof bound === 'object' && bound ? { host: bound.address, port: bound.port } : { host, port };
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#upgraded) socket.destroy();
    await closeHttp(server);
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    const refuse = (status: number, message: string) => {
      const body = JSON.stringify({ error: message });
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Refused'}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    try {
      const url = parseRequestTarget(req.url);
      if (this.#token !== undefined && !bearerMatches(req.headers.authorization, this.#token)) {
        refuse(401, req.headers.authorization ? 'wrong API token' : 'missing API token');
        return;
      }
      const parts = url.pathname.split('/');
      for (const { segments, route } of this.#upgrades) {
        const params = matchPath(segments, parts);
        if (params === undefined) continue;
        this.#upgraded.add(socket);
        socket.once('close', () => this.#upgraded.delete(socket));
        route.handle(req, socket, head, params);
        return;
      }
      refuse(404, `no upgrade at ${url.pathname}`);
    } catch (err) {
      refuse(err instanceof ApiError ? err.status : 500, (err as Error).message);
    }
  }

  /** One request without HTTP (the libp2p control protocol): the same routes, the same errors. */
  call(
    method: Route['method'],
    pathAndQuery: string,
    body: unknown,
    signal: AbortSignal,
  ): Promise<ApiResponse> | ApiResponse {
    const url = new URL(pathAndQuery, 'http://api');
    const match = this.#match(method, url.pathname);
    return match.route.handler({
      params: match.params,
      query: url.searchParams,
      body: async () => body,
      signal,
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    // A request target like `//[` is no URL at all; it gets a 400 like any other bad path.
    let url = new URL('http://api/');
    try {
      url = parseRequestTarget(req.url);
      if (this.#token !== undefined && !OPEN_PATHS.has(url.pathname)) {
        const browser = req.method === 'GET' && this.#sessions?.admits(req.headers.cookie) === true;
        if (!browser && !bearerMatches(req.headers.authorization, this.#token)) {
          throw new ApiError(
            401,
            req.headers.authorization
              ? 'wrong API token'
              : 'missing API token: meshctl reads it from <data dir>/api.token (--data-dir), --token-file or MESH_API_TOKEN',
          );
        }
      }
      const match = this.#match(req.method ?? 'GET', url.pathname);
      const response = await match.route.handler({
        params: match.params,
        query: url.searchParams,
        body: () => readJsonBody(req),
        signal: abort.signal,
      });
      await send(res, response, abort.signal);
    } catch (err) {
      // A client that hangs up mid-request is routine (meshctl killed with ^C), not a fault of the agent.
      if (!(err instanceof ApiError) && (abort.signal.aborted || req.readableAborted)) {
        this.#log.debug({ err: String(err), path: url.pathname }, 'control API client went away');
        res.end();
        return;
      }
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
      const params = matchPath(candidate.segments, parts);
      if (params === undefined) continue;
      pathMatched = true;
      if (candidate.method === method) return { route: candidate.route, params };
    }
    throw pathMatched
      ? new ApiError(405, `${method} is not allowed on ${pathname}`)
      : new ApiError(404, `no such endpoint: ${pathname}`);
  }
}

function parseRequestTarget(target: string | undefined): URL {
  // Only the path and query count: `//host/x` must not turn into a URL on another host with path `/x`.
  const path = target ?? '/';
  try {
    return new URL(`http://api${path.startsWith('/') ? path : `/${path}`}`);
  } catch {
    throw new ApiError(400, `malformed request path: ${JSON.stringify(path.slice(0, 200))}`);
  }
}

function decodePathSegment(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ApiError(
      400,
      `malformed percent-encoding in path segment "${part}": a % must be followed by two hex digits (write %25 for %)`,
    );
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
    return parseJson(Buffer.concat(chunks).toString('utf8'));
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
    res.writeHead(response.status ?? 200, { ...response.headers, 'content-type': response.contentType });
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

/** The `:name` parameters of a path whose parts match a route's segments (non-empty), or undefined. */
function matchPath(
  segments: readonly string[],
  parts: readonly string[],
): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  const ok = segments.every((segment, i) => {
    const part = parts[i] ?? '';
    if (!segment.startsWith(':')) return segment === part;
    params[segment.slice(1)] = decodePathSegment(part);
    return part.length > 0;
  });
  return ok ? params : undefined;
}
