import type { Connection, Stream } from '@libp2p/interface';
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils';
import { INBOUND_LIMITS, type InboundLimits } from './inbound-limits.js';
import type { MeshHost } from './libp2p-host.js';
import {
  type DescribedPeer,
  type DigestEntry,
  DigestReader,
  DigestWriter,
  decodeDigest,
  encodeDigest,
  MAX_DIGEST_BYTES,
  MAX_DIGEST_ENTRIES,
} from './liveness-digest.js';
import type { Logger } from './logger.js';
import { openStream } from './open-stream.js';
import { sample } from './sample.js';

export const LIVENESS_PROTOCOL = '/mycel/liveness/1.0.0';

export interface LivenessExchangeDeps {
  readonly host: Pick<MeshHost, 'handle' | 'unhandle' | 'getConnections'>;
  readonly log: Logger;
  readonly random: () => number;
  readonly limits: InboundLimits;
  /** This agent's own beat (it advances one per round) and the peers it hears alive or suspect, described. */
  readonly peers: () => DescribedPeer[];
  /** A neighbour's digest, decoded and within limits. */
  readonly deliver: (from: string, entries: readonly DigestEntry[]) => void;
}

export interface LivenessExchangeOptions {
  readonly intervalMs: number;
  /** An inbound stream silent this long is closed; its sender opens a new one when it has something to say. */
  readonly idleMs: number;
  readonly timeoutMs: number;
}

interface Link {
  stream?: Stream;
  lp?: LengthPrefixedStream<Stream>;
  busy: boolean;
  writer: DigestWriter;
}

/**
 * Gossip-style failure detection over direct links: every interval, each agent writes its digest to every
 * neighbour on one long-lived stream per neighbour. An agent's cost is one message per connection per interval
 * (bounded by maxConnections), where a heartbeat every agent publishes to all costs every agent N messages. Every
 * neighbour, not a sample: a device whose only link is to a busy hub must hear the hub every interval, or it
 * suspects the whole mesh.
 */
export class LivenessExchange {
  readonly #deps: LivenessExchangeDeps;
  readonly #options: LivenessExchangeOptions;
  readonly #links = new Map<string, Link>();
  readonly #inbound = new Set<Stream>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** The simulator drops a fraction of what arrives, as it does for gossip. */
  dropInbound: (() => boolean) | undefined;

  constructor(deps: LivenessExchangeDeps, options: LivenessExchangeOptions) {
    this.#deps = deps;
    this.#options = options;
  }

  async start(): Promise<void> {
    await this.#deps.host.handle(
      LIVENESS_PROTOCOL,
      (stream, connection) => void this.#serve(stream, connection),
      {
        // One stream from each side per connection; one spare covers a sender replacing a broken stream.
        maxInboundStreams: 2,
        maxOutboundStreams: 2,
      },
    );
    this.#timer = setInterval(() => this.round(), this.#options.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const link of this.#links.values()) link.stream?.abort(new Error('agent stopping'));
    for (const stream of this.#inbound) stream.abort(new Error('agent stopping'));
    this.#links.clear();
    await this.#deps.host.unhandle(LIVENESS_PROTOCOL);
  }

  /** Sends this round's digest to every neighbour; a neighbour still taking the last one is skipped. */
  round(): void {
    if (this.#stopped) return;
    const open = new Map<string, Connection>();
    for (const c of this.#deps.host.getConnections())
      if (c.status === 'open' && !c.limits) open.set(c.remotePeer.toString(), c);
    for (const [peer, link] of this.#links) {
      if (open.has(peer)) continue;
      link.stream?.abort(new Error('disconnected'));
      this.#links.delete(peer);
    }
    if (open.size === 0) return;
    let peers = this.#deps.peers();
    if (peers.length > MAX_DIGEST_ENTRIES) peers = sample(peers, MAX_DIGEST_ENTRIES, this.#deps.random);
    for (const connection of open.values()) void this.#send(connection, peers);
  }

  async #send(connection: Connection, peers: DescribedPeer[]): Promise<void> {
    const peer = connection.remotePeer.toString();
    let link = this.#links.get(peer);
    if (link?.busy) return;
    if (!link) {
      link = { busy: false, writer: new DigestWriter() };
      this.#links.set(peer, link);
    }
    link.busy = true;
    const signal = AbortSignal.timeout(this.#options.timeoutMs);
    try {
      if (!link.lp) {
        link.stream = await openStream(connection, LIVENESS_PROTOCOL, signal);
        link.lp = lpStream(link.stream, { maxDataLength: MAX_DIGEST_BYTES });
      }
      await link.lp.write(encodeDigest(link.writer.next(peers)), { signal });
    } catch (err) {
      // The next round opens a new stream with a new writer, which describes every peer again.
      link.stream?.abort(err instanceof Error ? err : new Error(String(err)));
      if (this.#links.get(peer) === link) this.#links.delete(peer);
      this.#deps.log.debug({ peer, err }, 'liveness digest: send failed');
    } finally {
      link.busy = false;
    }
  }

  async #serve(stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString();
    if (this.#stopped) {
      stream.abort(new Error('stopping'));
      return;
    }
    this.#inbound.add(stream);
    const lp = lpStream(stream, { maxDataLength: MAX_DIGEST_BYTES, maxBufferSize: MAX_DIGEST_BYTES + 16 });
    const reader = new DigestReader();
    try {
      for (;;) {
        const frame = await lp.read({ signal: AbortSignal.timeout(this.#options.idleMs) });
        if (!this.#deps.limits.admit('liveness', from, INBOUND_LIMITS.liveness)) continue;
        if (this.dropInbound?.()) continue;
        const decoded = decodeDigest(frame.subarray());
        if (!decoded.ok) {
          this.#deps.limits.rejected('liveness digest', from, decoded.error);
          stream.abort(new Error(decoded.error));
          return;
        }
        this.#deps.deliver(from, reader.read(decoded.value));
      }
    } catch (err) {
      // The sender closed it, went silent past idleMs, or the connection went: it opens a new one if it can.
      stream.abort(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.#inbound.delete(stream);
    }
  }
}
