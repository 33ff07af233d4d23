import type { Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { allocCommandRejection, ReplayGuard } from '../../crdt/alloc-command-auth.js';
import type { Logger } from '../../lib/logger.js';
import { FramedStream } from '../../lib/p2p/framed-stream.js';
import { openPeerStream, type PeerStreamHost } from '../../lib/p2p/peer-stream.js';
import type { ExecSession, SessionOptions } from '../drivers/driver.js';
import { DriverError } from '../drivers/driver-error.js';
import type { MeshHost } from '../net/libp2p-host.js';
import {
  commandOf,
  dataFrames,
  decodeExecFrame,
  type ExecErrorCode,
  type ExecRequest,
  encodeExecFrame,
  MAX_EXEC_FRAME,
} from './alloc-exec-frames.js';
import { allocOwner, type OwnerView } from './alloc-logs-local.js';
import { type FrameChannel, streamChannel } from './frame-channel.js';

/**
 * An operator's command to one copy, from any agent (`meshctl alloc exec`, `alloc restart`): the agent meshctl
 * talks to relays the frames to the node that runs the copy, which alone decides. That owner checks the
 * operator's signature in a closed mesh (over the alloc, the command, a time and a nonce it accepts once), runs
 * the command through its driver, streams stdout and stderr back and stdin in, and answers the exit code; it
 * writes who ran what, and how it ended, to its log (never the input). Bounded: sessions per peer and in all,
 * a request deadline, frame sizes, and an idle timeout with nothing either way; when the asker goes away the
 * command is killed.
 */
export const ALLOC_EXEC_PROTOCOL = '/mycel/alloc-exec/1.0.0';

export interface AllocExecOptions {
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** No byte either way for this long ends the session and kills the command. */
  readonly idleTimeoutMs: number;
  readonly maxSessionsPerPeer: number;
  readonly maxSessions: number;
}

const DEFAULT_ALLOC_EXEC_OPTIONS: AllocExecOptions = {
  connectTimeoutMs: 10_000,
  requestTimeoutMs: 10_000,
  idleTimeoutMs: 30 * 60_000,
  maxSessionsPerPeer: 4,
  maxSessions: 16,
};

class AllocExecError extends Error {
  override readonly name = 'AllocExecError';
  constructor(
    readonly code: ExecErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface AllocExecDeps {
  readonly self: string;
  readonly host: Pick<MeshHost, 'handle' | 'unhandle'> & PeerStreamHost;
  readonly log: Logger;
  readonly now: () => number;
  readonly view: OwnerView;
  /** The closed mesh's trusted operators; undefined in an open mesh, where no signature is asked for. */
  readonly operators: () => ReadonlySet<string> | undefined;
  readonly session: (
    allocId: string,
    command: readonly string[],
    options: SessionOptions,
  ) => Promise<ExecSession>;
  /** Undefined once restarted, else why not. */
  readonly restart: (allocId: string) => Promise<string | undefined>;
}

export class AllocExecProtocol {
  readonly #deps: AllocExecDeps;
  readonly #options: AllocExecOptions;
  readonly #perPeer = new Map<string, number>();
  readonly #sessions = new Set<AbortController>();
  readonly #replays = new ReplayGuard();
  #stopped = false;

  constructor(deps: AllocExecDeps, options: Partial<AllocExecOptions> = {}) {
    this.#deps = deps;
    this.#options = { ...DEFAULT_ALLOC_EXEC_OPTIONS, ...options };
  }

  async start(): Promise<void> {
    await this.#deps.host.handle(
      ALLOC_EXEC_PROTOCOL,
      (stream, connection) => void this.#serveStream(stream, connection.remotePeer.toString()),
      // A copy on a device behind NAT is reached through a relay (net/relay-options.ts), like its logs.
      {
        maxInboundStreams: this.#options.maxSessionsPerPeer + 1,
        maxOutboundStreams: 16,
        runOnLimitedConnection: true,
      },
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const session of this.#sessions) session.abort(new Error('the agent is stopping'));
    await this.#deps.host.unhandle(ALLOC_EXEC_PROTOCOL);
  }

  /** Sessions served now (for tests and metrics). */
  get sessions(): number {
    return this.#sessions.size;
  }

  /** Where the request must go: this node, another node's peer id, or an error when no node runs the copy. */
  ownerOf(allocId: string): { peerId: string; name: string } | undefined {
    return allocOwner(this.#deps.view, allocId);
  }

  /** A channel to the owner, the request already sent; its answer and the session follow on the channel. */
  async open(owner: string, request: Uint8Array, signal: AbortSignal): Promise<FrameChannel> {
    const { connectTimeoutMs } = this.#options;
    const connect = AbortSignal.any([signal, AbortSignal.timeout(connectTimeoutMs)]);
    let stream: Stream;
    try {
      stream = await openPeerStream(this.#deps.host, peerIdFromString(owner), ALLOC_EXEC_PROTOCOL, connect);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (connect.aborted) throw new AllocExecError('timeout', `no connection within ${connectTimeoutMs} ms`);
      throw new AllocExecError('unreachable', (err as Error).message);
    }
    // The owner keeps the idle deadline: a quiet command is no fault of the stream.
    const channel = streamChannel(
      new FramedStream(stream, { maxFrameBytes: MAX_EXEC_FRAME, idleTimeoutMs: Infinity }),
    );
    await channel.write(request, { signal: connect }).catch((err: unknown) => {
      channel.abort(err as Error);
      throw new AllocExecError('unreachable', `the owner took no request: ${(err as Error).message}`);
    });
    return channel;
  }

  #serveStream(stream: Stream, peer: string): Promise<void> {
    const framed = new FramedStream(stream, { maxFrameBytes: MAX_EXEC_FRAME, idleTimeoutMs: Infinity });
    return this.serve(streamChannel(framed), peer);
  }

  /** Serves one request on `channel` from `peer` (a peer id, or `local` for meshctl on this agent's API). */
  async serve(channel: FrameChannel, peer: string): Promise<void> {
    const { maxSessionsPerPeer, maxSessions, requestTimeoutMs } = this.#options;
    const mine = this.#perPeer.get(peer) ?? 0;
    if (this.#stopped || mine >= maxSessionsPerPeer || this.#sessions.size >= maxSessions) {
      const why = this.#stopped
        ? 'the agent is stopping'
        : `already ${mine >= maxSessionsPerPeer ? `${mine} sessions from your agent` : `${this.#sessions.size} sessions`} (the limit); end one or try again later`;
      return this.#refuse(channel, 'busy', why);
    }
    const session = new AbortController();
    const onGone = () => session.abort(reasonOf(channel.gone));
    channel.gone.addEventListener('abort', onGone, { once: true });
    this.#sessions.add(session);
    this.#perPeer.set(peer, mine + 1);
    try {
      const raw = await channel
        .read({ signal: AbortSignal.any([session.signal, AbortSignal.timeout(requestTimeoutMs)]) })
        .catch(() => undefined);
      if (!raw) {
        this.#deps.log.warn({ peer }, 'alloc exec: no request in time; dropped');
        channel.abort(new Error('no request in time'));
        return;
      }
      const frame = decodeExecFrame(raw);
      if (!frame.ok || frame.value.kind !== 'request') {
        const error = frame.ok ? `a ${frame.value.kind} frame first` : frame.error;
        this.#deps.log.warn({ peer, error }, 'alloc exec: dropped a bad request');
        return this.#refuse(channel, 'bad-request', error);
      }
      const request = frame.value.request;
      const refusal = this.#admit(request);
      if (refusal) {
        this.#audit('warn', request, peer, { refused: refusal.message });
        return this.#refuse(channel, refusal.code, refusal.message);
      }
      if (request.kind === 'restart') return await this.#restart(channel, request, peer);
      await this.#exec(channel, request, peer, session);
    } catch (err) {
      this.#deps.log.debug({ peer, err: (err as Error).message }, 'alloc exec: session failed');
      channel.abort(err instanceof Error ? err : new Error(String(err)));
    } finally {
      channel.gone.removeEventListener('abort', onGone);
      session.abort(new Error('session over'));
      this.#sessions.delete(session);
      const remaining = (this.#perPeer.get(peer) ?? 1) - 1;
      if (remaining > 0) this.#perPeer.set(peer, remaining);
      else this.#perPeer.delete(peer);
    }
  }

  /** The owner's checks, in order: runs it here, signed by an operator (closed mesh), not replayed. */
  #admit(request: ExecRequest): AllocExecError | undefined {
    const owner = this.ownerOf(request.allocId);
    if (!owner) return new AllocExecError('not-found', `no allocation "${request.allocId}"`);
    if (owner.peerId !== this.#deps.self)
      return new AllocExecError('not-owner', `alloc ${request.allocId} runs on ${owner.name}, not here`);
    const operators = this.#deps.operators();
    if (operators === undefined) return undefined;
    const now = this.#deps.now();
    const rejection = allocCommandRejection(commandOf(request), request.auth, operators, now);
    if (rejection) return new AllocExecError('forbidden', rejection);
    if (!this.#replays.admit(request.nonce, request.at, now))
      return new AllocExecError(
        'forbidden',
        'this signed request was used before (a replay); sign a new one',
      );
    return undefined;
  }

  async #restart(channel: FrameChannel, request: ExecRequest, peer: string): Promise<void> {
    this.#audit('info', request, peer, { phase: 'start' });
    const refusal = await this.#deps.restart(request.allocId);
    this.#audit('info', request, peer, refusal ? { refused: refusal } : { outcome: 'restarted' });
    if (refusal) return this.#refuse(channel, 'failed', `not restarted: ${refusal}`);
    await channel.write(encodeExecFrame({ kind: 'exit', code: 0 }));
    await channel.close().catch(() => undefined);
  }

  async #exec(
    channel: FrameChannel,
    request: ExecRequest,
    peer: string,
    session: AbortController,
  ): Promise<void> {
    let exec: ExecSession;
    try {
      exec = await this.#deps.session(request.allocId, request.command, {
        tty: request.tty,
        stdin: request.stdin,
        signal: session.signal,
        ...(request.cols && request.rows ? { cols: request.cols, rows: request.rows } : {}),
      });
    } catch (err) {
      const code = !(err instanceof DriverError)
        ? 'failed'
        : err.code === 'not-found'
          ? 'not-found'
          : err.code === 'unsupported'
            ? 'unsupported'
            : 'failed';
      this.#audit('warn', request, peer, { refused: (err as Error).message });
      return this.#refuse(channel, code, (err as Error).message);
    }
    const startedAt = this.#deps.now();
    this.#audit('info', request, peer, { phase: 'start' });
    let idle: AllocExecError | undefined;
    const timer = setTimeout(() => {
      idle = new AllocExecError('timeout', `nothing either way for ${this.#options.idleTimeoutMs} ms`);
      session.abort(idle);
    }, this.#options.idleTimeoutMs);
    const touch = () => timer.refresh();
    // Whatever ends the session early (the asker left, the idle timeout, the agent stopping) kills the command.
    const kill = () => void exec.kill().catch(() => undefined);
    session.signal.addEventListener('abort', kill, { once: true });
    let ending = 'the asker went away';
    try {
      await channel.write(encodeExecFrame({ kind: 'open' }), { signal: session.signal });
      void this.#input(channel, request, exec, session, touch);
      for await (const chunk of exec.output) {
        touch();
        for (const frame of dataFrames(chunk.stream, chunk.data))
          await channel.write(frame, { signal: session.signal });
      }
      const code = await exec.exitCode();
      if (session.signal.aborted) return;
      ending = `exit ${code}`;
      this.#audit('info', request, peer, { exitCode: code, durationMs: this.#deps.now() - startedAt });
      await channel.write(encodeExecFrame({ kind: 'exit', code }), { signal: session.signal });
      await channel.close().catch(() => undefined);
    } catch (err) {
      if (!session.signal.aborted) session.abort(err);
    } finally {
      clearTimeout(timer);
      session.signal.removeEventListener('abort', kill);
      if (session.signal.aborted) {
        await exec.kill().catch(() => undefined);
        if (idle) ending = idle.message;
        else if (!channel.gone.aborted) ending = `ended: ${reasonOf(session.signal).message}`;
        this.#audit('info', request, peer, { killed: ending, durationMs: this.#deps.now() - startedAt });
        if (idle && !channel.gone.aborted) await this.#refuse(channel, 'timeout', idle.message);
        else channel.abort(reasonOf(session.signal));
      }
    }
  }

  /** The asker's input and resizes, until it ends its writing; anything else ends the session. */
  async #input(
    channel: FrameChannel,
    request: ExecRequest,
    exec: ExecSession,
    session: AbortController,
    touch: () => void,
  ): Promise<void> {
    try {
      while (!session.signal.aborted) {
        const raw = await channel.read({ signal: session.signal });
        if (!raw) return exec.endInput();
        touch();
        const frame = decodeExecFrame(raw);
        if (!frame.ok) throw new Error(frame.error);
        const f = frame.value;
        if (f.kind === 'stdin' && request.stdin) await exec.write(f.data);
        else if (f.kind === 'stdinEnd') exec.endInput();
        else if (f.kind === 'resize') await exec.resize(f.cols, f.rows);
        else throw new Error(`unexpected ${f.kind} frame from the asker`);
      }
    } catch (err) {
      if (session.signal.aborted) return;
      this.#deps.log.warn({ err: (err as Error).message }, 'alloc exec: dropped a session on a bad frame');
      session.abort(err);
    }
  }

  /** Who asked for what, and how it ended, in this owner's log; never the input. */
  #audit(level: 'info' | 'warn', request: ExecRequest, peer: string, outcome: Record<string, unknown>): void {
    this.#deps.log[level](
      {
        audit: `alloc ${request.kind}`,
        allocId: request.allocId,
        ...(request.kind === 'exec' ? { command: request.command, tty: request.tty } : {}),
        by:
          this.#deps.operators() === undefined ? 'anyone (open mesh)' : (request.auth?.signer ?? 'unsigned'),
        via: peer,
        ...outcome,
      },
      `audit: alloc ${request.kind}`,
    );
  }

  async #refuse(channel: FrameChannel, code: ExecErrorCode, message: string): Promise<void> {
    try {
      await channel.write(encodeExecFrame({ kind: 'error', code, message }), {
        signal: AbortSignal.timeout(this.#options.requestTimeoutMs),
      });
      await channel.close();
    } catch (err) {
      channel.abort(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

function reasonOf(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(String(reason ?? 'aborted'));
}
