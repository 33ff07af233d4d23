import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Connection, Stream } from '@libp2p/interface';
import * as varint from 'uint8-varint';
import { FramedStream } from '../../src/lib/p2p/framed-stream.js';
import { DigestWriter, encodeDigest, MAX_DIGEST_BYTES } from '../../src/node/liveness/liveness-digest.js';
import { LIVENESS_PROTOCOL } from '../../src/node/liveness/liveness-exchange.js';

/** One `GET /v1/status` the way `meshctl status` makes it: a fresh connection, the bearer token, 1 s at most. */
export interface StatusSample {
  readonly at: number;
  readonly ms: number;
  /** The HTTP status, or what went wrong. */
  readonly outcome: number | string;
  /** The agent's resident memory then, MB. */
  readonly rssMb: number;
}

// A worker thread, not a timer in this thread: the hostile client below encrypts and sends megabytes from here,
// and a probe that shared its event loop would measure the test's own stalls instead of the agent's.
const PROBE_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const fs = require('node:fs');
// NaN once the agent is gone: the samples then fail the test, instead of the probe dying with it.
const rss = () => {
  try {
    return Number(/^VmRSS:\\s+(\\d+) kB/m.exec(fs.readFileSync('/proc/' + workerData.pid + '/status', 'utf8'))[1]) / 1024;
  } catch {
    return NaN;
  }
};
let stopped = false;
parentPort.on('message', () => { stopped = true; });
function once() {
  return new Promise((resolve) => {
    const started = performance.now();
    const done = (outcome) => resolve({ at: Date.now(), ms: performance.now() - started, outcome, rssMb: rss() });
    const req = http.get(workerData.url, { agent: false, headers: { authorization: 'Bearer ' + workerData.token } }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode));
      res.on('error', (err) => done(err.message));
    });
    req.setTimeout(1000, () => req.destroy(new Error('no answer within 1 s')));
    req.on('error', (err) => done(err.message));
  });
}
(async () => {
  while (!stopped) {
    const next = new Promise((r) => setTimeout(r, workerData.everyMs));
    parentPort.postMessage(await once());
    await next;
  }
  parentPort.postMessage('stopped');
})();
`;

export function probeStatus(api: string, token: string, pid: number, everyMs = 200) {
  const samples: StatusSample[] = [];
  const worker = new Worker(PROBE_SOURCE, {
    eval: true,
    workerData: { url: `${api}/v1/status`, token, pid, everyMs },
  });
  const stopped = new Promise<void>((resolve) => {
    worker.on('message', (m: StatusSample | 'stopped') => {
      if (m === 'stopped') resolve();
      else samples.push(m);
    });
  });
  return {
    samples,
    /** Ends the probe once; later calls return the same samples. */
    stop: (() => {
      let ending: Promise<StatusSample[]> | undefined;
      return () => {
        ending ??= (async () => {
          worker.postMessage('stop');
          await stopped;
          await worker.terminate();
          return samples;
        })();
        return ending;
      };
    })(),
  };
}

/** What the kernel says the process holds: resident memory and open descriptors. */
export function procStats(pid: number): { rssMb: number; fds: number } {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { rssMb: Number(kb) / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface RawExchange {
  /** Everything the server sent. */
  readonly text: string;
  /** The status of the first answer, or undefined when there was none. */
  readonly status: number | undefined;
  /** The server closed the connection (or reset it) before the guard expired. */
  readonly closedByServer: boolean;
  readonly ms: number;
}

/**
 * A raw TCP client: connects, writes `chunks` (functions are awaited, so a chunk can be a pause), then either
 * half-closes (`end`) or keeps the socket open, and waits until the server closes it or `guardMs` passes.
 */
export function talk(
  port: number,
  chunks: (string | Uint8Array | (() => Promise<void>))[],
  opts: { end?: boolean; guardMs?: number } = {},
): Promise<RawExchange> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let settled = false;
    const finish = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      socket.destroy();
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1];
      resolve({
        text,
        status: status ? Number(status) : undefined,
        closedByServer,
        ms: Date.now() - started,
      });
    };
    const guard = setTimeout(() => finish(false), opts.guardMs ?? 5_000);
    socket.on('data', (d: Buffer) => {
      if (text.length < 64 * 1024) text += d.toString('latin1');
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.once('connect', async () => {
      try {
        for (const chunk of chunks) {
          if (settled) return;
          if (typeof chunk === 'function') await chunk();
          else if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
        }
        if (opts.end) socket.end();
      } catch {
        finish(true);
      }
    });
  });
}

/** A request head; `Connection: close` so that a well-answered request ends the exchange at once. */
export function head(method: string, path: string, headers: Record<string, string | number> = {}): string {
  const lines = Object.entries({ host: '127.0.0.1', connection: 'close', ...headers }).map(
    ([k, v]) => `${k}: ${v}\r\n`,
  );
  return `${method} ${path} HTTP/1.1\r\n${lines.join('')}\r\n`;
}

/** Exactly `n` bytes of filler, in chunks of at most 64 KiB so no single write holds it all. */
export function filler(n: number): Uint8Array[] {
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  return Array.from({ length: Math.ceil(n / chunk.length) }, (_, i) =>
    chunk.subarray(0, Math.min(chunk.length, n - i * chunk.length)),
  );
}

export const prefix = (n: number) => varint.encode(n);

/**
 * A hostile stream's fate as this side sees it: when the agent ended it (reset, or closed its writing side),
 * and how many bytes it answered with.
 */
export interface Watched {
  readonly stream: Stream;
  readonly opened: number;
  endedAt: number | undefined;
  answered: number;
  readonly ended: Promise<void>;
}

export function watch(stream: Stream): Watched {
  const w: Watched = {
    stream,
    opened: Date.now(),
    endedAt: undefined,
    answered: 0,
    ended: new Promise<void>((resolve) => {
      const end = () => {
        w.endedAt ??= Date.now();
        resolve();
      };
      stream.addEventListener('remoteCloseWrite', end);
      stream.addEventListener('close', end);
      // The agent may have answered and closed its side before newStream returned: no event comes for that.
      if (stream.status !== 'open' || stream.remoteWriteStatus !== 'writable') queueMicrotask(end);
    }),
  };
  // Read and drop whatever the agent answers: an unread stream would hold its window shut.
  stream.addEventListener('message', (evt) => {
    w.answered += evt.data.byteLength;
  });
  return w;
}

/** Sends `chunks` in order, waiting for the muxer to take each; stops quietly once the agent ends the stream. */
export async function pump(w: Watched, chunks: Uint8Array[], signal: AbortSignal): Promise<number> {
  let sent = 0;
  for (const chunk of chunks) {
    if (w.endedAt !== undefined || w.stream.status !== 'open' || signal.aborted) break;
    try {
      if (!w.stream.send(chunk)) await w.stream.onDrain({ signal });
    } catch {
      break;
    }
    sent += chunk.byteLength;
  }
  return sent;
}

/** Whether `w` ended within `ms` of now. */
export async function endsWithin(w: Watched, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  const result = await Promise.race([w.ended.then(() => true as const), timeout]);
  clearTimeout(timer);
  return result;
}

/**
 * Liveness beats from `self` on `conn`, every `everyMs`, as a member would send them: the agent closes a link
 * whose peer never beats once the lost period is over, which would end every hostile stream on it early and
 * hide the deadlines under test. Returns how to stop.
 */
export function beat(conn: Connection, self: string, everyMs = 400): () => void {
  const stop = new AbortController();
  const writer = new DigestWriter();
  const incarnation = Date.now();
  void (async () => {
    let framed: FramedStream | undefined;
    for (let n = 1; !stop.signal.aborted; n++) {
      try {
        framed ??= new FramedStream(await conn.newStream(LIVENESS_PROTOCOL, { signal: stop.signal }), {
          maxFrameBytes: MAX_DIGEST_BYTES,
          idleTimeoutMs: 5_000,
          signal: stop.signal,
        });
        const frame = writer.next([{ peerId: self, incarnation, beat: n, name: 'hostile', addresses: [] }]);
        await framed.write(encodeDigest(frame));
      } catch {
        framed = undefined;
      }
      await sleep(everyMs);
    }
  })();
  return () => stop.abort(new Error('done'));
}
