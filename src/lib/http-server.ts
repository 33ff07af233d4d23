import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type Socket } from 'node:net';

/** Milliseconds, Node's names; 0 turns a timeout off. */
export interface HttpLimits {
  /** From accept to the end of the first request's headers (later requests have idleTimeout for it). */
  headersTimeout: number;
  /** From accept to the end of the request's body. */
  requestTimeout: number;
  /** From the end of a response to the end of the next request's headers on a kept-alive connection. */
  idleTimeout: number;
  maxHeadersCount: number;
  /** Open connections at most; one more closes the longest-idle one at accept, or itself if none is idle. */
  maxConnections: number;
}

/**
 * Descriptors no HTTP server may take: state flushes, the lock, libp2p connections and Docker need them, and an
 * agent that cannot write its state loses acknowledged jobs.
 */
export const DESCRIPTOR_RESERVE = 128;

/**
 * A share of the descriptor limit that local clients can hold at most: meshctl opens one connection per call and
 * `logs -f` one per stream, so a few dozen is plenty, and a local process that opens thousands of idle sockets
 * hits this cap long before the agent runs out of descriptors.
 */
export function connectionCap(openFilesLimit = readOpenFilesLimit()): number {
  return Math.max(8, Math.min(256, Math.floor((openFilesLimit - DESCRIPTOR_RESERVE) / 8)));
}

/** The soft RLIMIT_NOFILE; Node has no call for it, Linux shows it in /proc. 1024 (the usual default) elsewhere. */
export function readOpenFilesLimit(): number {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    if (line === 'unlimited') return 65_536;
    if (line) return Number(line);
  } catch {
    // Not Linux, or /proc is not mounted.
  }
  return 1024;
}

export const DEFAULT_HTTP_LIMITS: Omit<HttpLimits, 'maxConnections'> = {
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  idleTimeout: 5_000,
  maxHeadersCount: 50,
};

/**
 * An HTTP server on `host:port` (port 0 picks one) with its limits set before it accepts anything; a failed bind
 * (port taken) rejects instead of surfacing as an unhandled 'error' event.
 */
export async function listenHttp(
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  host: string,
  port: number,
  limits: Partial<HttpLimits> = {},
): Promise<Server> {
  const l: HttpLimits = {
    ...DEFAULT_HTTP_LIMITS,
    ...limits,
    maxConnections: limits.maxConnections ?? connectionCap(),
  };
  const server = createServer(
    {
      headersTimeout: l.headersTimeout,
      requestTimeout: l.requestTimeout,
      keepAliveTimeout: l.idleTimeout,
      // Node checks the two timeouts above only this often (30 s by default).
      connectionsCheckingInterval: 1_000,
      maxHeaderSize: 16 * 1024,
    },
    (req, res) => void handler(req, res),
  );
  server.maxHeadersCount = l.maxHeadersCount;
  guardConnections(server, l);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/**
 * Node's own timeouts start only once a request's first byte arrives: a socket that sends nothing is kept for ever,
 * and a thousand of them exhaust the agent's descriptors. Every connection gets a deadline while no request is in
 * flight (a long response such as `logs -f` is never cut), and at most `maxConnections` stay open. Over the cap,
 * the connection idle the longest makes room: refusing the newcomer instead would let a few idle sockets lock
 * meshctl and `/healthz` out until their deadline.
 */
function guardConnections(server: Server, limits: HttpLimits): void {
  const conns = new Map<Socket, { timer?: NodeJS.Timeout; active: number }>();
  // Insertion order is idle order: a socket is (re)inserted whenever it becomes idle.
  const idle = new Set<Socket>();
  const arm = (socket: Socket, ms: number) => {
    const state = conns.get(socket);
    if (!state) return;
    clearTimeout(state.timer);
    idle.delete(socket);
    idle.add(socket);
    if (ms > 0) {
      state.timer = setTimeout(() => socket.destroy(), ms);
      state.timer.unref();
    }
  };
  server.on('connection', (socket: Socket) => {
    if (conns.size >= limits.maxConnections) {
      const oldest = idle.values().next();
      if (oldest.done) {
        socket.destroy();
        return;
      }
      oldest.value.destroy();
      conns.delete(oldest.value);
      idle.delete(oldest.value);
    }
    conns.set(socket, { active: 0 });
    arm(socket, limits.headersTimeout);
    socket.once('close', () => {
      clearTimeout(conns.get(socket)?.timer);
      conns.delete(socket);
      idle.delete(socket);
    });
  });
  // An upgraded connection (a WebSocket) is no longer HTTP: its owner bounds it, and it is never idle here.
  server.on('upgrade', (req: IncomingMessage) => {
    const state = conns.get(req.socket);
    if (!state) return;
    clearTimeout(state.timer);
    idle.delete(req.socket);
    state.active++;
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const state = conns.get(socket);
    if (!state) return;
    clearTimeout(state.timer);
    idle.delete(socket);
    state.active++;
    res.once('close', () => {
      state.active--;
      if (state.active === 0 && !socket.destroyed) arm(socket, limits.idleTimeout);
    });
  });
}

/** Stops `server` now: open keep-alive and streaming connections would otherwise hold close() up. */
export async function closeHttp(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Whether `host` (a name or an address, IPv6 bracketed or not) is this machine's loopback. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1';
}
