import type { Connection, Stream } from '@libp2p/interface';
import type { Logger } from 'pino';
import { parseJson } from '../../lib/json-text.js';
import { FramedStream } from '../../lib/p2p/framed-stream.js';
import { openPeerStream } from '../../lib/p2p/peer-stream.js';
import type { Result } from '../../lib/result.js';
import { sample } from '../../lib/sample.js';
import { INBOUND_LIMITS, type InboundLimits } from './inbound-limits.js';
import type { KnownPeers } from './known-peers.js';
import type { MeshHost } from './libp2p-host.js';
import { dialableAddresses } from './peer-dialer.js';

export const PEER_EXCHANGE_PROTOCOL = '/mycel/peer-exchange/1.0.0';
const MAX_PEERS = 32;
const MAX_RESPONSE_BYTES = 32 * 1024;
const MAX_ADDRESSES = 8;

export interface ExchangedPeer {
  peerId: string;
  addresses: string[];
}

/**
 * Asks a freshly connected peer for a sample of the peers it knows. Discovery must not depend on gossip
 * reaching a newcomer: until it has mesh links, gossipsub may relay nothing to it, and it would stay attached to
 * its bootstrap peer alone.
 */
export class PeerExchange {
  readonly #host: MeshHost;
  readonly #known: KnownPeers;
  readonly #log: Logger;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #limits: InboundLimits;
  readonly #served: ((peer: string) => void) | undefined;

  constructor(
    host: MeshHost,
    known: KnownPeers,
    opts: {
      random: () => number;
      now: () => number;
      timeoutMs: number;
      limits: InboundLimits;
      /** `peer` has read an answer. */
      served?: (peer: string) => void;
    },
    log: Logger,
  ) {
    this.#host = host;
    this.#known = known;
    this.#random = opts.random;
    this.#now = opts.now;
    this.#timeoutMs = opts.timeoutMs;
    this.#limits = opts.limits;
    this.#served = opts.served;
    this.#log = log;
  }

  async start(): Promise<void> {
    await this.#host.handle(
      PEER_EXCHANGE_PROTOCOL,
      (stream, connection) => void this.#serve(stream, connection),
      {
        maxInboundStreams: 4,
        maxOutboundStreams: 4,
        // One small answer: a device reached only through a relay still learns whom to dial.
        runOnLimitedConnection: true,
      },
    );
  }

  async #serve(stream: Stream, connection: Connection): Promise<void> {
    const asker = connection.remotePeer.toString();
    if (!this.#limits.admit('peer-exchange', asker, INBOUND_LIMITS.peerExchange)) {
      stream.abort(new Error('rate limited'));
      return;
    }
    const signal = AbortSignal.timeout(this.#timeoutMs);
    try {
      const known = this.#known
        .list()
        .filter((p) => p.peerId !== asker && p.addresses.length > 0)
        .map((p) => ({ peerId: p.peerId, addresses: p.addresses.slice(0, MAX_ADDRESSES) }));
      const picked = sample(known, MAX_PEERS, this.#random);
      const framed = new FramedStream(stream, {
        maxFrameBytes: MAX_RESPONSE_BYTES,
        idleTimeoutMs: this.#timeoutMs,
        signal,
      });
      await framed.write(new TextEncoder().encode(JSON.stringify(picked)));
      await framed.close();
      this.#served?.(asker);
    } catch (err) {
      stream.abort(err as Error);
      this.#log.debug({ err }, 'peer exchange: serving failed');
    }
  }

  /** Learns peers from `peerId`; returns how many it offered. Failures only cost a log line. */
  async request(peerId: Connection['remotePeer']): Promise<number> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    try {
      const stream = await openPeerStream(this.#host, peerId, PEER_EXCHANGE_PROTOCOL, signal);
      const framed = new FramedStream(stream, {
        maxFrameBytes: MAX_RESPONSE_BYTES,
        idleTimeoutMs: this.#timeoutMs,
        signal,
      });
      const bytes = await framed.read();
      await framed.close().catch((err: unknown) => framed.abort(err as Error));
      if (!bytes) throw new Error('the peer closed the stream without an answer');
      const decoded = decodePeers(bytes);
      if (!decoded.ok) {
        this.#limits.rejected('peer-exchange answer', peerId.toString(), decoded.error);
        return 0;
      }
      const peers = decoded.value;
      const now = this.#now();
      const self = this.#host.peerId.toString();
      for (const peer of peers) {
        if (peer.peerId !== self) this.#known.remember(peer.peerId, dialableAddresses(peer.addresses), now);
      }
      return peers.length;
    } catch (err) {
      this.#log.debug({ peer: peerId.toString(), err }, 'peer exchange: request failed');
      return 0;
    }
  }
}

/** Never throws: the answer comes from a peer, and a bad one costs only this exchange. */
export function decodePeers(bytes: Uint8Array): Result<ExchangedPeer[]> {
  if (bytes.length > MAX_RESPONSE_BYTES) return { ok: false, error: 'peer exchange response too large' };
  let raw: unknown;
  try {
    raw = parseJson(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return { ok: false, error: 'not UTF-8 JSON' };
  }
  if (!Array.isArray(raw) || raw.length > MAX_PEERS)
    return { ok: false, error: 'peer exchange response is not a peer list' };
  const peers: ExchangedPeer[] = [];
  for (const entry of raw) {
    const { peerId, addresses } = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<
      string,
      unknown
    >;
    if (typeof peerId !== 'string' || !/^[1-9A-HJ-NP-Za-km-z]{32,64}$/.test(peerId))
      return { ok: false, error: 'bad peer id' };
    if (
      !Array.isArray(addresses) ||
      addresses.length > MAX_ADDRESSES ||
      !addresses.every((a) => typeof a === 'string' && a.startsWith('/') && a.length <= 200)
    ) {
      return { ok: false, error: 'bad addresses' };
    }
    peers.push({ peerId, addresses: addresses as string[] });
  }
  return { ok: true, value: peers };
}
