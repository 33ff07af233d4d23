import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server on loopback playing a hostile or broken upstream registry: each test installs the handler.
 * It records every path asked for, the bytes it managed to write and whether the client hung up on it.
 */
export interface HostileUpstream {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  readonly paths: string[];
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Bytes the handlers wrote into sockets (accepted by the kernel, not necessarily read). */
  written: number;
  /** Responses whose connection closed before they ended. */
  aborted: number;
  stop(): Promise<void>;
}

export async function startHostileUpstream(): Promise<HostileUpstream> {
  const state: HostileUpstream = {
    host: '',
    paths: [],
    handler: (_req, res) => void res.writeHead(404).end(),
    written: 0,
    aborted: 0,
    stop: async () => {},
  };
  const server: Server = createServer((req, res) => {
    state.paths.push(req.url ?? '');
    res.on('close', () => {
      if (!res.writableEnded) state.aborted++;
    });
    state.handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

/** Writes `chunk` again and again, as fast as the client reads, with no length: a body without end. */
export function streamForever(up: HostileUpstream, res: ServerResponse, chunk: Uint8Array): void {
  const pump = () => {
    while (!res.destroyed) {
      up.written += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
  };
  pump();
}

/** One byte every `everyMs`, forever: never silent long enough to stall, never done. */
export function trickle(up: HostileUpstream, res: ServerResponse, everyMs: number): void {
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer);
    up.written += 1;
    res.write('x');
  }, everyMs);
  res.on('close', () => clearInterval(timer));
}
