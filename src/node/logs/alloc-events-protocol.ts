import type { Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { parseJson } from '../../lib/json-text.js';
import type { Logger } from '../../lib/logger.js';
import { FramedStream } from '../../lib/p2p/framed-stream.js';
import { openPeerStream, type PeerStreamHost } from '../../lib/p2p/peer-stream.js';
import type { MeshHost } from '../net/libp2p-host.js';
import type { AllocEvent } from '../workloads/alloc-events.js';

/**
 * Recent events of an allocation, asked of the node that runs it (`meshctl alloc status` on any agent): events
 * are that node's memory, not replicated state. One JSON request `{ allocId }` per stream, one JSON answer
 * `{ events }` or `{ error }`. Bounded: small frames, a deadline for the whole exchange on both sides, a cap on
 * streams per peer, and an answer checked field by field before it is shown.
 */
export const ALLOC_EVENTS_PROTOCOL = '/mycel/alloc-events/1.0.0';

export const MAX_EVENTS_REQUEST_BYTES = 1024;
/** An owner keeps 16 events per alloc; this leaves room for long reasons and nothing more. */
const MAX_ANSWER_BYTES = 64 * 1024;
const MAX_EVENTS = 64;
const MAX_REASON_CHARS = 2048;
export const DEFAULT_ALLOC_EVENTS_TIMEOUT_MS = 3_000;

export class AllocEventsError extends Error {
  override readonly name = 'AllocEventsError';
}

export interface AllocEventsDeps {
  readonly host: Pick<MeshHost, 'handle' | 'unhandle'> & PeerStreamHost;
  /** Recent events of a copy this node runs (empty when it runs no such copy). */
  readonly events: (allocId: string) => readonly AllocEvent[];
  readonly log: Logger;
}

export class AllocEventsProtocol {
  readonly #deps: AllocEventsDeps;
  readonly #timeoutMs: number;

  constructor(deps: AllocEventsDeps, options: { timeoutMs?: number } = {}) {
    this.#deps = deps;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_ALLOC_EVENTS_TIMEOUT_MS;
  }

  async start(): Promise<void> {
    await this.#deps.host.handle(ALLOC_EVENTS_PROTOCOL, (stream) => void this.#serve(stream), {
      maxInboundStreams: 4,
      maxOutboundStreams: 8,
      // Events are small: a copy on a device behind NAT is followed through a relay.
      runOnLimitedConnection: true,
    });
  }

  async stop(): Promise<void> {
    await this.#deps.host.unhandle(ALLOC_EVENTS_PROTOCOL);
  }

  /** The owner's events of `allocId`; an AllocEventsError that says why when the owner cannot be asked. */
  async ask(owner: string, allocId: string, signal?: AbortSignal): Promise<AllocEvent[]> {
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    const both = signal ? AbortSignal.any([signal, deadline]) : deadline;
    let framed: FramedStream | undefined;
    try {
      const stream = await openPeerStream(
        this.#deps.host,
        peerIdFromString(owner),
        ALLOC_EVENTS_PROTOCOL,
        both,
      );
      framed = new FramedStream(stream, {
        maxFrameBytes: MAX_ANSWER_BYTES,
        idleTimeoutMs: this.#timeoutMs,
        signal: both,
      });
      await framed.write(new TextEncoder().encode(JSON.stringify({ allocId })));
      const frame = await framed.read();
      if (!frame) throw new Error('the owner closed the stream without an answer');
      await framed.close().catch(() => undefined);
      return answerOf(frame);
    } catch (err) {
      framed?.abort(err as Error);
      if (deadline.aborted) throw new AllocEventsError(`no answer within ${this.#timeoutMs} ms`);
      throw new AllocEventsError((err as Error).message);
    }
  }

  async #serve(stream: Stream): Promise<void> {
    const framed = new FramedStream(stream, {
      maxFrameBytes: MAX_EVENTS_REQUEST_BYTES,
      idleTimeoutMs: this.#timeoutMs,
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    try {
      const frame = await framed.read();
      if (!frame) throw new Error('the stream closed before a request');
      const allocId = (parseJson(new TextDecoder().decode(frame)) as { allocId?: unknown })?.allocId;
      const answer =
        typeof allocId === 'string' && allocId.length > 0 && allocId.length <= 128
          ? { events: this.#deps.events(allocId).slice(-MAX_EVENTS) }
          : { error: 'expected { "allocId" }' };
      await framed.write(new TextEncoder().encode(JSON.stringify(answer)));
      await framed.close();
    } catch (err) {
      this.#deps.log.debug({ err: (err as Error).message }, 'alloc events: request failed');
      framed.abort(err as Error);
    }
  }
}

/** What another node sent, checked: only well-formed events, at most MAX_EVENTS, reasons cut to a bound. */
function answerOf(frame: Uint8Array): AllocEvent[] {
  const answer = parseJson(new TextDecoder().decode(frame)) as { events?: unknown; error?: unknown };
  if (typeof answer?.error === 'string') throw new Error(`the owner refused: ${answer.error.slice(0, 200)}`);
  if (!Array.isArray(answer?.events)) throw new Error('the owner sent a malformed answer');
  const events: AllocEvent[] = [];
  for (const e of answer.events.slice(-MAX_EVENTS) as { at?: unknown; kind?: unknown; reason?: unknown }[]) {
    if (typeof e?.at !== 'number' || typeof e.kind !== 'string' || !/^[a-z-]{1,32}$/.test(e.kind)) continue;
    const reason = typeof e.reason === 'string' ? { reason: e.reason.slice(0, MAX_REASON_CHARS) } : {};
    events.push({ at: e.at, kind: e.kind as AllocEvent['kind'], ...reason });
  }
  return events;
}
