import type { Logger } from '../../lib/logger.js';
import type { InboundLimits } from '../net/inbound-limits.js';
import type { MeshHost } from '../net/libp2p-host.js';
import { dialableAddresses } from '../net/peer-dialer.js';
import type { MeshMetrics } from '../setup/metrics.js';
import { type LivenessChange, type LivenessStatus, LivenessView } from './liveness.js';
import type { DescribedPeer, DigestEntry } from './liveness-digest.js';
import { LivenessExchange } from './liveness-exchange.js';

/** A peer as this agent's liveness view and its open connections see it (`meshctl node peers`). */
export interface PeerInfo {
  peerId: string;
  name: string;
  addresses: string[];
  liveness: LivenessStatus;
  lastSeen: number;
  connected: boolean;
  rttMs: number | null;
}

export interface LivenessServiceDeps {
  readonly host: MeshHost;
  readonly log: Logger;
  readonly now: () => number;
  readonly random: () => number;
  readonly limits: InboundLimits;
  readonly metrics: Pick<MeshMetrics, 'peers' | 'connections' | 'rtt'>;
  readonly config: {
    readonly name: string;
    readonly heartbeatIntervalMs: number;
    readonly suspectAfterMs: number;
    readonly lostAfterMs: number;
  };
  /** This agent's incarnation: its start time. */
  readonly startedAt: number;
  /** Revoked devices: neither heard nor described to neighbours. */
  readonly isRevoked: (peer: string) => boolean;
  /** A peer's dialable addresses, learnt from a digest (the known-peers file keeps them). */
  readonly remember: (peer: string, addresses: string[], now: number) => void;
  /** Dials afresh the peers heard on none of their connections (net/peer-dialer.ts redialSilent). */
  readonly redial?: (silent: readonly string[]) => void;
}

/**
 * Who is alive: the liveness view, fed by neighbours' digests (LivenessExchange) and judged on a tick twice per
 * heartbeat interval. Data flows one way: digests in → view → listeners (placement); the view goes back out only
 * as this agent's own digest. Also closes links that carry no beats.
 */
export class LivenessService {
  readonly name = 'liveness';
  readonly view: LivenessView;
  readonly exchange: LivenessExchange;
  readonly #deps: LivenessServiceDeps;
  readonly #tickMs: number;
  readonly #listeners = new Set<(changes: LivenessChange[]) => void>();
  #lastTick: number | undefined;
  #beat = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: LivenessServiceDeps) {
    this.#deps = deps;
    const { config } = deps;
    this.#tickMs = Math.max(250, Math.floor(config.heartbeatIntervalMs / 2));
    this.view = new LivenessView({
      suspectAfterMs: config.suspectAfterMs,
      lostAfterMs: config.lostAfterMs,
      forgetAfterMs: 24 * 60 * 60_000,
    });
    this.exchange = new LivenessExchange(
      {
        host: deps.host,
        log: deps.log,
        random: deps.random,
        now: deps.now,
        limits: deps.limits,
        peers: () => this.#digestPeers(),
        deliver: (from, entries) => this.#onDigest(from, entries),
        alive: (peer) => this.view.get(peer, deps.now())?.status === 'alive',
        ...(deps.redial ? { redial: deps.redial } : {}),
      },
      {
        intervalMs: config.heartbeatIntervalMs,
        idleMs: 3 * config.lostAfterMs,
        timeoutMs: 10_000,
        linkQuietMs: config.suspectAfterMs,
      },
    );
  }

  /** Serves and sends digests from here on; the view is judged only once `judging` starts. */
  async start(): Promise<void> {
    await this.exchange.start();
  }

  async stop(): Promise<void> {
    await this.exchange.stop();
  }

  /**
   * The judging half, started last and stopped first: the tick that ages the view, and the first digest at once
   * (a newcomer learns the mesh's addresses from its bootstrap peer's answer).
   */
  readonly judging = {
    name: 'liveness judging',
    start: (): void => {
      this.#timer = setInterval(() => this.#tick(), this.#tickMs).unref();
      this.exchange.round();
    },
    stop: (): void => {
      clearInterval(this.#timer);
      this.#timer = undefined;
    },
  };

  /** Subscribe to liveness transitions (alive/suspect/lost/forgotten, restarts). */
  onChange(listener: (changes: LivenessChange[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A revoked device leaves the view at once. */
  forget(peer: string): void {
    this.view.forget(peer);
  }

  counts(): Record<LivenessStatus, number> {
    return this.view.counts(this.#deps.now());
  }

  /** Every peer heard, with its connection and round-trip time if directly connected. */
  peers(): PeerInfo[] {
    const now = this.#deps.now();
    const rtt = new Map<string, number>();
    const connected = new Set<string>();
    for (const conn of this.#deps.host.getConnections()) {
      const id = conn.remotePeer.toString();
      connected.add(id);
      if (conn.rtt !== undefined) rtt.set(id, Math.min(conn.rtt, rtt.get(id) ?? Number.POSITIVE_INFINITY));
    }
    return this.view.list(now).map((view) => ({
      peerId: view.peerId,
      name: view.name,
      addresses: view.addresses,
      liveness: view.status,
      lastSeen: view.lastSeen,
      connected: connected.has(view.peerId),
      rttMs: rtt.get(view.peerId) ?? null,
    }));
  }

  /** This round's digest: this agent's next beat, and every peer it still hears (alive or suspect). */
  #digestPeers(): DescribedPeer[] {
    const { host, config, startedAt, isRevoked, now } = this.#deps;
    const self = {
      peerId: host.peerId.toString(),
      incarnation: startedAt,
      beat: this.#beat++,
      name: config.name,
      addresses: dialableAddresses(host.getMultiaddrs().map((ma) => ma.toString())),
    };
    const peers: DescribedPeer[] = [self];
    for (const { peerId, incarnation, beat, name, addresses } of this.view.heard(now()))
      if (!isRevoked(peerId)) peers.push({ peerId, incarnation, beat, name, addresses });
    return peers;
  }

  #onDigest(from: string, entries: readonly DigestEntry[]): void {
    const { isRevoked, remember } = this.#deps;
    if (isRevoked(from)) return;
    const now = this.#deps.now();
    const me = this.#deps.host.peerId.toString();
    const changes: LivenessChange[] = [];
    for (const entry of entries) {
      if (entry.peerId === me || isRevoked(entry.peerId)) continue;
      // Most entries are a bare beat, most of them one already heard from another neighbour: no copies for those.
      let change: LivenessChange | undefined;
      if (entry.addresses) {
        const addresses = dialableAddresses(entry.addresses);
        change = this.view.observe(entry.peerId, now, { ...entry, addresses });
        remember(entry.peerId, addresses, now);
      } else change = this.view.observe(entry.peerId, now, entry);
      if (change) changes.push(change);
    }
    if (changes.length > 0) this.#emit(changes);
  }

  #tick(): void {
    const { log, metrics, host, config } = this.#deps;
    const now = this.#deps.now();
    const late = this.#lastTick === undefined ? 0 : now - this.#lastTick - this.#tickMs;
    this.#lastTick = now;
    // More than a tick late: this agent's own event loop stalled, and the beats that arrived meanwhile still wait
    // in its sockets. The stall is not the peers' silence.
    if (late > this.#tickMs) {
      this.view.excuse(late, now);
      log[late >= config.suspectAfterMs ? 'warn' : 'debug'](
        { stalledMs: late },
        'this agent stalled: not counting the stall against its peers',
      );
    }
    const changes = this.view.tick(now);
    if (changes.length > 0) this.#emit(changes);
    const counts = this.view.counts(now);
    for (const [status, n] of Object.entries(counts)) metrics.peers.set({ liveness: status }, n);
    const connections = host.getConnections();
    metrics.connections.set(connections.length);
    for (const conn of connections) if (conn.rtt !== undefined) metrics.rtt.observe(conn.rtt / 1000);
    this.#closeSilentLinks(now);
  }

  /**
   * A link that has been open past the lost period while its peer's beats never arrive is broken above
   * TCP (seen under load: a gossipsub stream that failed to open is never retried). Closing it lets the dialer
   * build a fresh one, instead of a newcomer staying attached to one peer that relays nothing to it.
   */
  #closeSilentLinks(now: number): void {
    for (const conn of this.#deps.host.getConnections()) {
      const peer = conn.remotePeer.toString();
      if (now - conn.timeline.open < this.#deps.config.lostAfterMs) continue;
      // Suspect is only slow (a loaded device); lost or never heard is what a broken link looks like.
      const status = this.view.get(peer, now)?.status;
      if (status === 'alive' || status === 'suspect') continue;
      this.#deps.log.warn({ peer }, 'closing a link that carries no beats');
      void conn.close().catch((err: unknown) => conn.abort(err as Error));
    }
  }

  #emit(changes: LivenessChange[]): void {
    for (const change of changes) {
      const level = change.to === 'alive' ? 'info' : 'warn';
      this.#deps.log[level](
        { peer: change.peerId, peerName: change.name, from: change.from, to: change.to },
        'peer liveness',
      );
    }
    for (const listener of this.#listeners) listener(changes);
  }
}
