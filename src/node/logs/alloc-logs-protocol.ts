import type { Connection, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { errorMessage } from '../../lib/error-message.js';
import type { Logger } from '../../lib/logger.js';
import { FramedStream, FrameTooLarge, NoProgress } from '../../lib/p2p/framed-stream.js';
import { openPeerStream, type PeerStreamHost } from '../../lib/p2p/peer-stream.js';
import { type Watched, watch } from '../../lib/watched-promise.js';
import type { LogLine } from '../drivers/driver.js';
import type { MeshHost } from '../net/libp2p-host.js';
import {
  decodeCredit,
  decodeFrame,
  decodeRequest,
  encodeCredit,
  encodeFrame,
  encodeLine,
  encodeRequest,
  INITIAL_CREDIT,
  type LogErrorCode,
  type LogRequest,
  MAX_LOG_FRAME,
  MAX_LOG_REQUEST,
} from './alloc-logs-frames.js';

/**
 * Logs of an allocation from any agent: the asker opens a stream to the node that runs it and sends one
 * request; the owner answers `open` and streams the driver's lines, or answers `error` and closes. A follow
 * lasts until the workload exits (`end`) or the asker goes away: the owner aborts the driver's reader when its
 * stream closes, so nothing keeps polling for a reader that left. Quiet follows carry keepalives, so the asker
 * tells a silent workload from a dead owner by its idle timeout. Bounded: a request size limit, a frame size
 * limit, a deadline to connect and one between frames, and a cap on sessions per peer and in all.
 */
export const ALLOC_LOGS_PROTOCOL = '/mycel/alloc-logs/1.0.0';

export interface AllocLogsOptions {
  /** Asker: dial, request and the owner's first answer. */
  readonly connectTimeoutMs: number;
  /** Asker: no frame for this long ends the session. Larger than the owner's keepalive period. */
  readonly idleTimeoutMs: number;
  /** Owner: a frame at least this often while a follow is quiet. */
  readonly keepaliveMs: number;
  /** Owner: the request must arrive within this after the stream opens. */
  readonly requestTimeoutMs: number;
  readonly maxSessionsPerPeer: number;
  readonly maxSessions: number;
}

export const DEFAULT_ALLOC_LOGS_OPTIONS: AllocLogsOptions = {
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  keepaliveMs: 10_000,
  requestTimeoutMs: 5_000,
  maxSessionsPerPeer: 4,
  maxSessions: 32,
};

/** Failures on either side: the owner's refusals, and the asker's own (cannot reach, timed out, bad frames). */
export type AllocLogsErrorCode = LogErrorCode | 'unreachable' | 'timeout' | 'protocol';

export class AllocLogsError extends Error {
  override readonly name = 'AllocLogsError';
  constructor(
    readonly code: AllocLogsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface AllocLogsDeps {
  readonly host: Pick<MeshHost, 'handle' | 'unhandle'> & PeerStreamHost;
  /**
   * The lines of an allocation this node runs; throws an AllocLogsError (`not-owner`, `not-found`,
   * `unsupported`) when it cannot give them. Ends when the request is done or `signal` aborts.
   */
  readonly local: (request: LogRequest, signal: AbortSignal) => Promise<AsyncIterable<LogLine>>;
  readonly log: Logger;
}

export class AllocLogsProtocol {
  readonly #deps: AllocLogsDeps;
  readonly #options: AllocLogsOptions;
  readonly #perPeer = new Map<string, number>();
  readonly #sessions = new Set<AbortController>();
  #stopped = false;

  constructor(deps: AllocLogsDeps, options: Partial<AllocLogsOptions> = {}) {
    this.#deps = deps;
    this.#options = { ...DEFAULT_ALLOC_LOGS_OPTIONS, ...options };
  }

  async start(): Promise<void> {
    await this.#deps.host.handle(
      ALLOC_LOGS_PROTOCOL,
      (stream, connection) => this.#serve(stream, connection),
      // One over the per-peer cap, so that a refusal can still be answered instead of a reset.
      // Logs of a copy on a device behind NAT come through a relay; a follow that outgrows the relay's limits
      // (net/relay-options.ts) ends, and `meshctl alloc logs -f` asks again.
      {
        maxInboundStreams: this.#options.maxSessionsPerPeer + 1,
        maxOutboundStreams: 8,
        runOnLimitedConnection: true,
      },
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const session of this.#sessions) session.abort(new Error('agent stopping'));
    await this.#deps.host.unhandle(ALLOC_LOGS_PROTOCOL);
  }

  /** Sessions this owner is serving now, per asking peer (for tests and metrics). */
  sessions(): ReadonlyMap<string, number> {
    return this.#perPeer;
  }

  /** The logs of an allocation this node runs, under the same checks a remote asker gets. */
  local(request: LogRequest, signal: AbortSignal): Promise<AsyncIterable<LogLine>> {
    return this.#deps.local(request, signal);
  }

  /**
   * Asks `owner` for the logs. Resolves once the owner has accepted, so refusals and unreachable owners are
   * errors here (AllocLogsError), before any line; the lines then end at the owner's `end`, or throw.
   */
  async open(owner: string, request: LogRequest, signal?: AbortSignal): Promise<AsyncGenerator<LogLine>> {
    const { connectTimeoutMs } = this.#options;
    const connect = anySignal(signal, AbortSignal.timeout(connectTimeoutMs));
    let stream: Stream | undefined;
    try {
      stream = await openPeerStream(this.#deps.host, peerIdFromString(owner), ALLOC_LOGS_PROTOCOL, connect);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (connect.aborted) throw new AllocLogsError('timeout', `no connection within ${connectTimeoutMs} ms`);
      throw new AllocLogsError('unreachable', errorMessage(err));
    }
    // Credit bounds what the owner sends ahead of the reader; the stream's own flow control bounds the rest.
    // Idle is time spent waiting for the owner, not time the consumer spends with a line.
    const framed = new FramedStream(stream, {
      maxFrameBytes: MAX_LOG_FRAME,
      bufferBytes: INITIAL_CREDIT,
      idleTimeoutMs: this.#options.idleTimeoutMs,
    });
    try {
      await framed.write(encodeRequest(request), { signal: connect });
      const first = await this.#readFrame(framed, connect, `no answer within ${connectTimeoutMs} ms`);
      if (first.kind === 'error') throw new AllocLogsError(first.code, first.message);
      if (first.kind !== 'open')
        throw new AllocLogsError('protocol', `the owner answered ${first.kind} first`);
    } catch (err) {
      framed.abort(err instanceof Error ? err : new Error(String(err)));
      if (signal?.aborted) throw signal.reason;
      throw err;
    }
    return this.#lines(framed, signal);
  }

  async *#lines(framed: FramedStream, signal: AbortSignal | undefined): AsyncGenerator<LogLine> {
    const timedOut = `nothing from the owner for ${this.#options.idleTimeoutMs} ms`;
    let consumed = 0;
    let ended = false;
    try {
      while (true) {
        const frame = await this.#readFrame(framed, signal, timedOut);
        if (frame.kind === 'keepalive') continue;
        if (frame.kind === 'line') {
          yield frame.line;
          consumed += frame.size;
          // Half the window used up: grant it again, so the owner never stalls on a reader that keeps up.
          if (consumed >= INITIAL_CREDIT / 2) {
            await framed.write(encodeCredit(consumed), signal ? { signal } : undefined);
            consumed = 0;
          }
          continue;
        }
        if (frame.kind === 'end') {
          ended = true;
          await framed.close().catch(() => undefined);
          return;
        }
        if (frame.kind === 'error') throw new AllocLogsError(frame.code, frame.message);
        throw new AllocLogsError('protocol', `unexpected ${frame.kind} frame`);
      }
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    } finally {
      if (!ended) framed.abort(new Error('the asker stopped reading'));
    }
  }

  async #readFrame(framed: FramedStream, signal: AbortSignal | undefined, timedOut: string) {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await framed.read(signal ? { signal } : undefined);
    } catch (err) {
      if (signal?.aborted || err instanceof NoProgress) throw new AllocLogsError('timeout', timedOut);
      if (err instanceof FrameTooLarge)
        throw new AllocLogsError('protocol', `the owner sent more than allowed: ${err.message}`);
      throw new AllocLogsError('unreachable', `the stream broke: ${errorMessage(err)}`);
    }
    if (!bytes) throw new AllocLogsError('unreachable', 'the owner closed the stream before the end');
    const frame = decodeFrame(bytes);
    if (!frame.ok) {
      this.#deps.log.warn({ error: frame.error }, 'alloc logs: dropped a malformed frame from the owner');
      throw new AllocLogsError('protocol', `the owner sent a malformed frame (${frame.error})`);
    }
    return { ...frame.value, size: bytes.length };
  }

  async #serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    // No progress deadline here: a quiet follow sends only keepalives and hears nothing back for as long as it
    // lasts; the request has its own deadline, and the session ends when the asker's stream closes.
    const framed = new FramedStream(stream, { maxFrameBytes: MAX_LOG_REQUEST, idleTimeoutMs: Infinity });
    const { maxSessionsPerPeer, maxSessions, requestTimeoutMs } = this.#options;
    const mine = this.#perPeer.get(peer) ?? 0;
    if (this.#stopped || mine >= maxSessionsPerPeer || this.#sessions.size >= maxSessions) {
      const message = this.#stopped
        ? 'the agent is stopping'
        : mine >= maxSessionsPerPeer
          ? `already ${mine} log streams open to your agent (the limit); end one first`
          : `already ${this.#sessions.size} log streams open (the limit); try again later`;
      await this.#refuse(framed, 'busy', message);
      return;
    }
    const session = new AbortController();
    this.#sessions.add(session);
    this.#perPeer.set(peer, mine + 1);
    let left = false;
    const gone = () => {
      left = true;
      session.abort(new Error('the asker went away'));
    };
    stream.addEventListener('close', gone);
    try {
      let raw: Uint8Array | undefined;
      try {
        const signal = anySignal(session.signal, AbortSignal.timeout(requestTimeoutMs));
        raw = await framed.read({ signal });
        if (!raw) throw new Error('the asker closed the stream before its request');
      } catch (err) {
        this.#deps.log.warn({ peer, error: errorMessage(err) }, 'alloc logs: no usable request; dropped');
        framed.abort(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const request = decodeRequest(raw);
      if (!request.ok) {
        this.#deps.log.warn({ peer, error: request.error }, 'alloc logs: dropped a bad request');
        await this.#refuse(framed, 'bad-request', request.error);
        return;
      }
      let lines: AsyncIterable<LogLine>;
      try {
        lines = await this.#deps.local(request.value, session.signal);
      } catch (err) {
        await this.#refuse(framed, codeOf(err), errorMessage(err));
        return;
      }
      await framed.write(encodeFrame({ kind: 'open' }), { signal: session.signal });
      const credit = new Credit(INITIAL_CREDIT);
      void this.#readCredit(framed, credit, session, peer);
      let failure: { error: unknown } | undefined;
      try {
        await this.#pump(
          lines,
          async (frames) => {
            const cost = frames.reduce((sum, f) => sum + (f[0] === KEEPALIVE ? 0 : f.length), 0);
            if (cost > 0) await credit.take(cost, session.signal);
            await framed.writeV(frames, { signal: session.signal });
          },
          session,
        );
      } catch (error) {
        failure = { error };
      }
      // The pump has stopped the reader by now; whoever is still there hears how the log ended.
      if (left) return;
      if (this.#stopped) failure = { error: new Error('the agent of the owner is stopping') };
      const closing = AbortSignal.timeout(requestTimeoutMs);
      const last = failure
        ? encodeFrame({ kind: 'error', code: codeOf(failure.error), message: errorMessage(failure.error) })
        : encodeFrame({ kind: 'end' });
      await framed.write(last, { signal: closing });
      await framed.close({ signal: closing });
    } catch (err) {
      if (!left) this.#deps.log.debug({ peer, error: errorMessage(err) }, 'alloc logs: session failed');
      framed.abort(err instanceof Error ? err : new Error(String(err)));
    } finally {
      stream.removeEventListener('close', gone);
      session.abort(new Error('session over'));
      this.#sessions.delete(session);
      const remaining = (this.#perPeer.get(peer) ?? 1) - 1;
      if (remaining > 0) this.#perPeer.set(peer, remaining);
      else this.#perPeer.delete(peer);
    }
  }

  /** The asker's grants, until it closes or sends something else (then the session ends). */
  async #readCredit(
    framed: FramedStream,
    credit: Credit,
    session: AbortController,
    peer: string,
  ): Promise<void> {
    try {
      while (!session.signal.aborted) {
        const frame = await framed.read({ signal: session.signal });
        if (!frame) return;
        const grant = decodeCredit(frame);
        if (!grant.ok) {
          this.#deps.log.warn({ peer, error: grant.error }, 'alloc logs: dropped a session on a bad frame');
          framed.abort(new Error(grant.error));
          return;
        }
        credit.give(grant.value);
      }
    } catch {
      // The asker closed its side or left; the stream's close event ends the session.
    }
  }

  /**
   * Sends the driver's lines, and keepalives while it has none. Lines that are ready together go out as one
   * write (one muxer frame, one encryption), up to `MAX_BATCH` bytes. Whatever ends the session (the log, an
   * error, the asker leaving), the driver's reader is stopped and awaited before this returns: it may hold a
   * poll loop or an engine connection.
   */
  async #pump(
    lines: AsyncIterable<LogLine>,
    send: (frames: Uint8Array[]) => Promise<void>,
    session: AbortController,
  ): Promise<void> {
    const iterator = lines[Symbol.asyncIterator]();
    let next: Watched<IteratorResult<LogLine>> | undefined;
    let batch: Uint8Array[] = [];
    let size = 0;
    const flush = async () => {
      const frames = batch;
      batch = [];
      size = 0;
      await send(frames);
    };
    try {
      while (true) {
        next ??= watch(iterator.next());
        if (batch.length > 0 && (size >= MAX_BATCH || !(await next.settledWithin(0)))) {
          await flush();
          continue;
        }
        if (batch.length === 0 && !(await next.settledWithin(this.#options.keepaliveMs))) {
          await send([encodeFrame({ kind: 'keepalive' })]);
          continue;
        }
        let step: IteratorResult<LogLine>;
        try {
          step = await next.promise;
        } catch (err) {
          // The lines read before the failure still reach the asker, ahead of the error.
          next = undefined;
          if (batch.length > 0) await flush();
          throw err;
        }
        next = undefined;
        if (step.done) break;
        for (const frame of encodeLine(step.value)) {
          batch.push(frame);
          size += frame.length;
        }
      }
      if (batch.length > 0) await flush();
    } finally {
      session.abort(new Error('session over'));
      await next?.promise.catch(() => undefined);
      await iterator.return?.()?.catch(() => undefined);
    }
  }

  async #refuse(framed: FramedStream, code: LogErrorCode, message: string): Promise<void> {
    const signal = AbortSignal.timeout(this.#options.requestTimeoutMs);
    try {
      await framed.write(encodeFrame({ kind: 'error', code, message }), { signal });
      await framed.close({ signal });
    } catch (err) {
      framed.abort(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

const OWNER_CODES: ReadonlySet<AllocLogsErrorCode> = new Set([
  'not-owner',
  'not-found',
  'unsupported',
  'bad-request',
]);
function isOwnerCode(code: AllocLogsErrorCode): code is LogErrorCode {
  return OWNER_CODES.has(code);
}

/** What the owner tells the asker: its own refusals as they are, anything else as `failed`. */
function codeOf(err: unknown): LogErrorCode {
  return err instanceof AllocLogsError && isOwnerCode(err.code) ? err.code : 'failed';
}

/** Bytes the asker has allowed; a send waits while there are none (one frame may overdraw it). */
class Credit {
  #bytes: number;
  #wake: (() => void) | undefined;

  constructor(bytes: number) {
    this.#bytes = bytes;
  }

  give(bytes: number): void {
    this.#bytes += bytes;
    this.#wake?.();
  }

  async take(bytes: number, signal: AbortSignal): Promise<void> {
    while (this.#bytes <= 0) {
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          this.#wake = undefined;
          resolve();
        };
        this.#wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
    this.#bytes -= bytes;
  }
}

const KEEPALIVE = encodeFrame({ kind: 'keepalive' })[0];
/** Bytes of lines sent in one write: large enough to amortise a muxer frame, well under the credit window. */
const MAX_BATCH = 64 * 1024;

function anySignal(signal: AbortSignal | undefined, other: AbortSignal): AbortSignal {
  return signal ? AbortSignal.any([signal, other]) : other;
}
