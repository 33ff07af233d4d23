import type { Connection, Stream } from '@libp2p/interface';
import type { Logger } from '../../lib/logger.js';
import { FramedStream } from '../../lib/p2p/framed-stream.js';
import { openStream } from '../../lib/p2p/open-stream.js';
import { sample } from '../../lib/sample.js';
import { INBOUND_LIMITS, type InboundLimits } from '../net/inbound-limits.js';
import type { MeshHost } from '../net/libp2p-host.js';
import { chooseLinks, deadLinks, redundantLinks, silentPeers } from '../net/peer-links.js';
import {
  type DescribedPeer,
  type DigestEntry,
  type DigestFrame,
  DigestReader,
  DigestWriter,
  decodeDigest,
  encodeDigest,
  MAX_DIGEST_BYTES,
  MAX_DIGEST_ENTRIES,
} from './liveness-digest.js';
import { decodeBinaryDigest, encodeBinaryDigest } from './liveness-digest-binary.js';
import { RELAYS_WANTED, RelayChoice } from './liveness-relays.js';

/** Digests in JSON: what agents before the binary frames speak, still answered and spoken to them. */
export const LIVENESS_PROTOCOL = '/mycel/liveness/1.0.0';
/** The same digests in varints (liveness-digest-binary.ts), asked for first. */
export const LIVENESS_PROTOCOL_V2 = '/mycel/liveness/2.0.0';
const PROTOCOLS = [LIVENESS_PROTOCOL_V2, LIVENESS_PROTOCOL] as const;
const CODECS = {
  [LIVENESS_PROTOCOL]: { encode: encodeDigest, decode: decodeDigest },
  [LIVENESS_PROTOCOL_V2]: { encode: encodeBinaryDigest, decode: decodeBinaryDigest },
};
const codecOf = (stream: Stream) =>
  stream.protocol === LIVENESS_PROTOCOL_V2 ? CODECS[LIVENESS_PROTOCOL_V2] : CODECS[LIVENESS_PROTOCOL];

export interface LivenessExchangeDeps {
  readonly host: Pick<MeshHost, 'handle' | 'unhandle' | 'getConnections' | 'peerId'>;
  readonly log: Logger;
  readonly random: () => number;
  readonly now: () => number;
  readonly limits: InboundLimits;
  /**
   * This agent's own beat first (it advances one per call, and the exchange calls once per round), then the peers
   * it hears alive or suspect, described.
   */
  readonly peers: () => DescribedPeer[];
  /** A neighbour's digest, decoded and within limits. */
  readonly deliver: (from: string, entries: readonly DigestEntry[]) => void;
  /** Whether `peer`'s beats reach this agent now, by any path: a direct link that carries none of them is dead. */
  readonly alive?: (peer: string) => boolean;
  /** Each round: the peers heard on none of their connections for the quiet period, to be dialled afresh. */
  readonly redial?: (silent: readonly string[]) => void;
}

export interface LivenessExchangeOptions {
  readonly intervalMs: number;
  /** An inbound stream silent this long is closed; its sender opens a new one when it has something to say. */
  readonly idleMs: number;
  readonly timeoutMs: number;
  /**
   * A connection to a neighbour that carries no frame for this long, while another connection to it does, is
   * closed (net/peer-links.ts): a peer that restarted is reached on its new connection, not a dead one. Default
   * three intervals, the default suspect period.
   */
  readonly linkQuietMs?: number;
  /** Default RELAYS_WANTED. */
  readonly relaysWanted?: number;
}

/** Frames since start, by kind: a digest of every peer, or the sender's own beat alone. */
export interface LivenessExchangeStats {
  readonly sent: { digests: number; ownBeats: number };
  readonly received: { digests: number; ownBeats: number };
  /** The neighbours this agent asks to relay to it now. */
  readonly relays: readonly string[];
}

interface Link {
  /** Frames go on one stream of one connection, the one both ends settle on (net/peer-links.ts). */
  connection: Connection;
  stream?: FramedStream;
  busy: boolean;
  writer: DigestWriter;
  /** As the stream's protocol says: binary, or JSON to an agent from before the binary frames. */
  encode: (frame: DigestFrame) => Uint8Array;
}

/**
 * Gossip-style failure detection over direct links, on one long-lived stream per neighbour. Every interval each
 * agent sends its digest (its own beat and the newest beat it holds of every peer) to the neighbours that asked
 * it to relay (liveness-relays.ts: each agent asks a few), and its own beat alone to the others. Work per agent
 * is then a few digests of every peer per interval whatever its connections: a heartbeat every agent publishes
 * to all costs every agent N messages, and a digest to every neighbour costs a hub of 60 links 60 digests of
 * every peer, in and out, per interval. The own beat still goes to every neighbour every interval: a beat that
 * starts on every link keeps the paths short (sim/scale/liveness-model.ts: sending it only every fifth interval
 * left gaps near the suspect period, and 60 agents flapped).
 */
export class LivenessExchange {
  readonly #deps: LivenessExchangeDeps;
  readonly #options: LivenessExchangeOptions;
  readonly #links = new Map<string, Link>();
  readonly #inbound = new Set<Stream>();
  /** When a frame last arrived on each connection, by connection id: which of a peer's connections still work. */
  readonly #heardOn = new Map<string, number>();
  /**
   * Per neighbour, from its latest frame: whether it asks for every peer's beats (unknown means yes), and when its
   * latest digest of every peer arrived.
   */
  readonly #heard = new Map<string, { wantsRelay: boolean; fullDigestAt: number | undefined }>();
  readonly #relays: RelayChoice;
  /** Neighbours whose frames to this agent lost descriptions: the next frame to each asks to describe again. */
  readonly #askDescribe = new Set<string>();
  readonly #sent = { digests: 0, ownBeats: 0 };
  readonly #received = { digests: 0, ownBeats: 0 };
  #timer: NodeJS.Timeout | undefined;
  #lastRound: number | undefined;
  #stopped = false;
  /** The simulator drops a fraction of what arrives, as it does for gossip. */
  dropInbound: (() => boolean) | undefined;

  constructor(deps: LivenessExchangeDeps, options: LivenessExchangeOptions) {
    this.#deps = deps;
    this.#options = options;
    this.#relays = new RelayChoice(options.relaysWanted ?? RELAYS_WANTED, 3 * options.intervalMs);
  }

  stats(): LivenessExchangeStats {
    return {
      sent: { ...this.#sent },
      received: { ...this.#received },
      relays: [...this.#relays.chosen],
    };
  }

  async start(): Promise<void> {
    for (const protocol of PROTOCOLS)
      await this.#deps.host.handle(protocol, (stream, connection) => void this.#serve(stream, connection), {
        // One stream from each side per connection; one spare covers a sender replacing a broken stream.
        maxInboundStreams: 2,
        maxOutboundStreams: 2,
      });
    this.#timer = setInterval(() => this.round(), this.#options.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const link of this.#links.values()) link.stream?.abort(new Error('agent stopping'));
    for (const stream of this.#inbound) stream.abort(new Error('agent stopping'));
    this.#links.clear();
    for (const protocol of PROTOCOLS) await this.#deps.host.unhandle(protocol);
  }

  /**
   * Sends this round's digest to every neighbour that asked for it, and this agent's own beat alone to the others;
   * a neighbour still taking the last frame is skipped.
   */
  round(): void {
    if (this.#stopped) return;
    const connections = this.#deps.host.getConnections();
    const me = this.#deps.host.peerId.toString();
    const heardOn = (c: Connection) => this.#heardOn.get(c.id);
    // Connection timelines are wall-clock times.
    const wallNow = Date.now();
    const timing = {
      recentMs: 2 * this.#options.intervalMs,
      tieMs: 2 * this.#options.intervalMs,
      quietMs: this.#options.linkQuietMs ?? 3 * this.#options.intervalMs,
    };
    // Late ourselves (a stalled event loop), the frames that arrived meanwhile still wait to be read: silence
    // now is ours, not the links'.
    const late = this.#lastRound !== undefined && wallNow - this.#lastRound > 2 * this.#options.intervalMs;
    this.#lastRound = wallNow;
    const alive = this.#deps.alive ?? (() => false);
    const stale = late ? [] : redundantLinks(me, connections, heardOn, wallNow, timing);
    const dead = late ? [] : deadLinks(connections, heardOn, alive, wallNow, timing);
    for (const connection of stale) {
      this.#deps.log.info(
        { peer: connection.remotePeer.toString(), connection: connection.id },
        'closing a connection that carries nothing while another to the same peer works',
      );
      void connection.close().catch((err: unknown) => connection.abort(err as Error));
    }
    for (const connection of dead) {
      this.#deps.log.info(
        { peer: connection.remotePeer.toString(), connection: connection.id },
        'dropping a connection that carries no beats while the peer is heard through others',
      );
      // Aborted, not closed: a graceful close would wait on a peer that cannot answer on it.
      connection.abort(new Error('the connection carries no beats while the peer is heard through others'));
    }
    const kept = connections.filter((c) => !stale.includes(c) && !dead.includes(c));
    if (!late) this.#deps.redial?.(silentPeers(kept, heardOn, alive, wallNow, timing));
    const open = chooseLinks(me, kept, timing);
    for (const [peer, link] of this.#links) {
      if (open.has(peer)) continue;
      link.stream?.abort(new Error('disconnected'));
      this.#links.delete(peer);
    }
    for (const peer of this.#heard.keys()) if (!open.has(peer)) this.#heard.delete(peer);
    for (const peer of this.#askDescribe) if (!open.has(peer)) this.#askDescribe.delete(peer);
    const live = new Set(connections.map((c) => c.id));
    for (const id of this.#heardOn.keys()) if (!live.has(id)) this.#heardOn.delete(id);
    // Called every round, so that this agent's own beat advances once per interval even with no neighbour.
    let peers = this.#deps.peers();
    if (open.size === 0) return;
    const [self, ...heard] = peers;
    if (!self) return;
    if (peers.length > MAX_DIGEST_ENTRIES)
      peers = [self, ...sample(heard, MAX_DIGEST_ENTRIES - 1, this.#deps.random)];
    const relays = this.#relays.update(
      [...open.keys()],
      (peer) => this.#heard.get(peer)?.fullDigestAt,
      this.#deps.now(),
      this.#deps.random,
    );
    // One deadline for the round's writes: a timer per write would be one per neighbour per interval.
    const signal = AbortSignal.timeout(this.#options.timeoutMs);
    for (const [peer, connection] of open) {
      const askRelay = relays.has(peer);
      const full = this.#heard.get(peer)?.wantsRelay ?? true;
      void this.#send(connection, signal, (writer) =>
        full ? writer.next(peers, askRelay) : writer.own(self, askRelay),
      );
    }
  }

  async #send(
    connection: Connection,
    signal: AbortSignal,
    frame: (writer: DigestWriter) => DigestFrame,
  ): Promise<void> {
    const peer = connection.remotePeer.toString();
    let link = this.#links.get(peer);
    if (link && link.connection !== connection) {
      link.stream?.abort(new Error('a newer connection to the peer replaces this one'));
      this.#links.delete(peer);
      link = undefined;
    }
    if (link?.busy) return;
    if (!link) {
      link = { connection, busy: false, writer: new DigestWriter(), encode: encodeDigest };
      this.#links.set(peer, link);
    }
    link.busy = true;
    try {
      if (!link.stream) {
        const stream = await openStream(connection, PROTOCOLS, signal);
        link.encode = codecOf(stream).encode;
        link.stream = new FramedStream(stream, {
          maxFrameBytes: MAX_DIGEST_BYTES,
          idleTimeoutMs: this.#options.timeoutMs,
        });
      }
      const ask = this.#askDescribe.delete(peer);
      const next = { ...frame(link.writer), describeAgain: ask };
      try {
        await link.stream.write(link.encode(next), { signal });
      } catch (err) {
        if (ask) this.#askDescribe.add(peer);
        throw err;
      }
      this.#sent[next.ownOnly ? 'ownBeats' : 'digests']++;
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
    // Silent past idleMs: closed; its sender opens a new one when it has something to say.
    const framed = new FramedStream(stream, {
      maxFrameBytes: MAX_DIGEST_BYTES,
      idleTimeoutMs: this.#options.idleMs,
    });
    const reader = new DigestReader();
    const { decode } = codecOf(stream);
    // Each whole frame within idleMs, not merely a byte: a sender trickling one byte at a time restarts the
    // no-progress timer for ever, and would hold the stream and up to a 1 MiB frame in memory as long as it liked.
    const next = () => framed.read({ signal: AbortSignal.timeout(this.#options.idleMs) });
    try {
      for (let frame = await next(); frame; frame = await next()) {
        this.#heardOn.set(connection.id, Date.now());
        // A frame passed over may have described peers that later frames only name by slot.
        if (!this.#deps.limits.admit('liveness', from, INBOUND_LIMITS.liveness) || this.dropInbound?.()) {
          this.#askDescribe.add(from);
          continue;
        }
        const decoded = decode(frame);
        if (!decoded.ok) {
          this.#deps.limits.rejected('liveness digest', from, decoded.error);
          framed.abort(new Error(decoded.error));
          return;
        }
        const previous = this.#heard.get(from)?.fullDigestAt;
        this.#heard.set(from, {
          wantsRelay: decoded.value.relay,
          fullDigestAt: decoded.value.ownOnly ? previous : this.#deps.now(),
        });
        this.#received[decoded.value.ownOnly ? 'ownBeats' : 'digests']++;
        if (decoded.value.describeAgain) this.#links.get(from)?.writer.describeAgain();
        this.#deps.deliver(from, reader.read(decoded.value));
        if (reader.takeMissing()) this.#askDescribe.add(from);
      }
      await framed.close();
    } catch (err) {
      // The sender went silent past idleMs, or the connection went: it opens a new one if it can.
      framed.abort(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.#inbound.delete(stream);
    }
  }
}
