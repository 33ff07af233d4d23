import type { PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';
import type { InboundLimits } from './inbound-limits.js';
import { Introductions } from './introductions.js';
import type { KnownPeers } from './known-peers.js';
import type { MeshHost } from './libp2p-host.js';
import { type DialError, dialableAddresses, directPeers, PeerDialer } from './peer-dialer.js';
import { PeerExchange } from './peer-exchange.js';
import { Reachability } from './reachability.js';
import type { RelayMode } from './relay-options.js';

export interface PeerDiscoveryDeps {
  readonly host: MeshHost;
  readonly knownPeers: KnownPeers;
  readonly log: Logger;
  readonly now: () => number;
  readonly random: () => number;
  readonly limits: InboundLimits;
  readonly config: {
    /** --join addresses, and a closed mesh's bootstrap addresses. */
    readonly join: string[];
    readonly targetPeers: number;
    readonly maxConnections: number;
    readonly heartbeatIntervalMs: number;
    /** Direct links this long with no dial-in from outside the subnet: the device says it is unreachable. */
    readonly lostAfterMs: number;
    readonly relay: RelayMode;
  };
  /** A newcomer was let in past the connection limit to be introduced. */
  readonly introduced: () => void;
  /** A fresh connection replaced silent ones to `peer` (peer-dialer.ts redialSilent). */
  readonly freshConnection?: (peer: string) => void;
}

/**
 * How this agent finds the mesh and stays in it, in two services: `PeerDiscovery` answers (peer exchange, and
 * introductions of newcomers past the connection limit) from early on; its `dialing` reaches out (the dialer,
 * peer exchange asked of new and random peers, the known-peers file) once every protocol is served.
 */
export class PeerDiscovery {
  readonly name = 'peer discovery';
  readonly knownPeers: KnownPeers;
  readonly dialer: PeerDialer;
  readonly exchange: PeerExchange;
  readonly introductions: Introductions;
  /** The outward half: started last, stopped first. */
  readonly dialing: PeerDialing;
  /** Whether peers can dial this device, for `meshctl status`. */
  readonly reachability: Reachability;
  readonly #log: Logger;

  constructor(deps: PeerDiscoveryDeps) {
    const { host, knownPeers, log, now, random, config } = deps;
    this.knownPeers = knownPeers;
    this.#log = log;
    this.reachability = new Reachability(host, {
      relay: config.relay,
      graceMs: config.lostAfterMs,
      now,
    });
    this.dialer = new PeerDialer(
      host,
      knownPeers,
      {
        join: config.join,
        targetPeers: config.targetPeers,
        tickMs: Math.min(1_000, config.heartbeatIntervalMs),
        dialTimeoutMs: 10_000,
        backoff: { baseMs: 500, capMs: 60_000 },
        now,
        random,
        ...(deps.freshConnection ? { freshConnection: deps.freshConnection } : {}),
      },
      log,
    );
    this.introductions = new Introductions(
      host,
      {
        maxConnections: config.maxConnections,
        // A newcomer's identify, peer exchange (5 s timeout) and first digest all start when it connects.
        graceMs: 10_000,
        lingerMs: 1_000,
        introduced: deps.introduced,
      },
      log,
    );
    this.exchange = new PeerExchange(
      host,
      knownPeers,
      {
        random,
        now,
        timeoutMs: 5_000,
        limits: deps.limits,
        served: (peer) => this.introductions.served(peer),
      },
      log,
    );
    this.dialing = new PeerDialing(deps, this);
  }

  async start(): Promise<void> {
    this.reachability.start();
    await this.exchange.start();
    this.introductions.start();
  }

  async stop(): Promise<void> {
    this.reachability.stop();
    this.introductions.stop();
    await this.saveKnownPeers();
  }

  /** The last dial failure per target, for `meshctl status`. */
  dialErrors(): DialError[] {
    return this.dialer.errors.list();
  }

  async saveKnownPeers(): Promise<void> {
    try {
      await this.knownPeers.save();
    } catch (err) {
      this.#log.warn({ err }, 'could not save known peers');
    }
  }
}

/** The outward half of discovery: dials, asks peers whom they know, and saves what it learns. */
export class PeerDialing {
  readonly name = 'peer dialing';
  readonly #deps: PeerDiscoveryDeps;
  readonly #discovery: PeerDiscovery;
  readonly #timers: NodeJS.Timeout[] = [];

  constructor(deps: PeerDiscoveryDeps, discovery: PeerDiscovery) {
    this.#deps = deps;
    this.#discovery = discovery;
  }

  start(): void {
    this.#deps.host.addEventListener('peer:identify', this.#onIdentify);
    this.#every(60_000, () => void this.#discovery.saveKnownPeers());
    this.#every(10_000, () => this.#askRandomPeer());
    this.#discovery.dialer.start();
  }

  stop(): void {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers.length = 0;
    this.#deps.host.removeEventListener('peer:identify', this.#onIdentify);
    this.#discovery.dialer.stop();
  }

  readonly #onIdentify = (
    evt: CustomEvent<{ peerId: PeerId; listenAddrs: { toString(): string }[] }>,
  ): void => {
    const { peerId, listenAddrs } = evt.detail;
    const addresses = dialableAddresses(listenAddrs.map((a) => a.toString()));
    if (addresses.length > 0) this.#deps.knownPeers.remember(peerId.toString(), addresses, this.#deps.now());
    this.#askForPeers(peerId);
  };

  #every(ms: number, fn: () => void): void {
    this.#timers.push(setInterval(fn, ms).unref());
  }

  /** Short of links: ask `peer` whom it knows, so the dialer has candidates beyond the bootstrap peer. */
  #askForPeers(peer: PeerId): void {
    if (directPeers(this.#deps.host).length >= this.#deps.config.targetPeers) return;
    void this.#discovery.exchange.request(peer).then((offered) => {
      if (offered > 0) this.#discovery.dialer.tick();
    });
  }

  #askRandomPeer(): void {
    const peers = this.#deps.host.getPeers();
    const peer = peers[Math.floor(this.#deps.random() * peers.length)];
    if (peer) this.#askForPeers(peer);
  }
}
