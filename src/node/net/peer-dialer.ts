import type { Connection, PeerId } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import type { Logger } from 'pino';
import { type BackoffPolicy, backoffDelay } from '../../lib/backoff.js';
import { isDirect } from '../../lib/p2p/newest-connection.js';
import { shuffle } from '../../lib/shuffle.js';
import { DialErrors } from './dial-errors.js';
import type { KnownPeers } from './known-peers.js';
import type { MeshHost } from './libp2p-host.js';

export type { DialError } from './dial-errors.js';

export interface DialerOptions {
  /**
   * A fresh connection to a peer heard on none of its old ones is up: state sync asks over it at once, instead of
   * waiting for gossip (whose streams may still sit on the dead connections) or the next anti-entropy round.
   */
  freshConnection?: (peer: string) => void;
  join: string[];
  targetPeers: number;
  tickMs: number;
  dialTimeoutMs: number;
  backoff: BackoffPolicy;
  now: () => number;
  random: () => number;
}

interface Attempt {
  failures: number;
  notBefore: number;
  /** Who answered the last successful dial: how a closing link finds the targets it was dialled by. */
  peer?: string;
}

/**
 * A link that closes sooner than this after the dial counts as a failed dial, and a dial's failures are forgiven
 * only once its link has outlived this: a full agent lets a newcomer go after introducing it, and a path that
 * flaps drops the link again, so the peer is retried on a growing backoff instead of straight back every tick.
 * Not a fixed ban: a peer that crashed and restarts must be dialled again soon.
 */
export const SHORT_LINK_MS = 30_000;

/**
 * Keeps this agent connected to `targetPeers` peers. Candidates are the known peers (learned from liveness
 * digests and remembered on disk) and the --join addresses; each failing target backs off exponentially, so a
 * dead bootstrap peer costs little while any other known peer gets the agent back into the mesh.
 */
export class PeerDialer {
  readonly #host: MeshHost;
  readonly #known: KnownPeers;
  readonly #opts: DialerOptions;
  readonly #log: Logger;
  readonly #attempts = new Map<string, Attempt>();
  readonly #inFlight = new Set<string>();
  /** Fresh dials to peers heard on no connection, per peer, until they are heard again. */
  readonly #redials = new Map<string, { failures: number; notBefore: number }>();
  /** The last failure per target, for `meshctl status`; a failing handshake is also logged. */
  readonly errors: DialErrors;
  #timer: NodeJS.Timeout | undefined;

  constructor(host: MeshHost, known: KnownPeers, opts: DialerOptions, log: Logger) {
    this.#host = host;
    this.#known = known;
    this.#opts = opts;
    this.#log = log;
    this.errors = new DialErrors(log, { now: opts.now });
  }

  start(): void {
    this.#host.addEventListener('connection:close', this.#onClose);
    this.tick();
    this.#timer = setInterval(() => this.tick(), this.#opts.tickMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#host.removeEventListener('connection:close', this.#onClose);
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  tick(): void {
    const peers = directPeers(this.#host);
    // A few dials per tick: when a whole site learns of each other at once, dialling every wanted peer in the
    // same instant is a connection storm against whoever is first in everyone's list.
    let wanted = Math.min(MAX_DIALS_PER_TICK, this.#opts.targetPeers - peers.length - this.#inFlight.size);
    if (wanted <= 0) return;
    const connected = new Set(peers.map((p) => p.toString()));
    const now = this.#opts.now();
    const self = this.#host.peerId.toString();
    for (const target of this.#candidates(connected, self)) {
      if (wanted <= 0) break;
      const attempt = this.#attempts.get(target.key);
      if (this.#inFlight.has(target.key) || (attempt && attempt.notBefore > now)) continue;
      wanted--;
      void this.#dial(target.key, target.addresses);
    }
  }

  /**
   * Known peers first, in random order so that a site's agents spread their links instead of all dialling the
   * same few peers, then the join addresses not yet known to be connected.
   */
  *#candidates(connected: Set<string>, self: string): Generator<{ key: string; addresses: string[] }> {
    for (const peer of shuffle(this.#known.list(), this.#opts.random)) {
      // Mesh links are direct: a relayed one is bounded in time and bytes (relay-options.ts), so the dialer
      // leaves relay addresses to the streams that need one particular peer (lib/p2p/peer-stream.ts).
      const direct = peer.addresses.filter((a) => !isRelayed(a));
      if (peer.peerId === self || connected.has(peer.peerId) || direct.length === 0) continue;
      yield { key: peer.peerId, addresses: direct.map((a) => withPeerId(a, peer.peerId)) };
    }
    for (const address of this.#opts.join) {
      const peerId = peerIdOf(address);
      if (peerId && (peerId === self || connected.has(peerId))) continue;
      if (!peerId && this.#joinAddressConnected(address)) continue;
      yield { key: address, addresses: [address] };
    }
  }

  #joinAddressConnected(address: string): boolean {
    return this.#host.getConnections().some((c) => c.remoteAddr.toString().startsWith(address));
  }

  async #dial(key: string, addresses: string[]): Promise<PeerId | undefined> {
    this.#inFlight.add(key);
    try {
      const conn = await this.#host.dial(
        addresses.map((a) => multiaddr(a)),
        { signal: AbortSignal.timeout(this.#opts.dialTimeoutMs) },
      );
      const peer = conn.remotePeer.toString();
      // The failures stand until the link outlives SHORT_LINK_MS.
      this.#attempts.set(key, { failures: this.#attempts.get(key)?.failures ?? 0, notBefore: 0, peer });
      this.errors.succeeded(key);
      this.#log.debug({ peer, via: key }, 'connected');
      return conn.remotePeer;
    } catch (err) {
      const failures = (this.#attempts.get(key)?.failures ?? 0) + 1;
      const delay = backoffDelay(failures, this.#opts.backoff, this.#opts.random());
      this.#attempts.set(key, { failures, notBefore: this.#opts.now() + delay });
      const { kind } = this.errors.failed(key, err);
      this.#log.debug(
        { target: key, failures, retryInMs: delay, kind, err: (err as Error).message },
        'dial failed',
      );
      return undefined;
    } finally {
      this.#inFlight.delete(key);
    }
  }

  /**
   * Opens a fresh connection beside the silent ones to each peer in `silent` (net/peer-links.ts silentPeers), on
   * a backoff per peer: after this device's address changed, the old connections are dead while a new dial works
   * at once; in a partition each attempt fails and the next waits longer. Peers no longer listed were heard
   * again: their backoff is forgotten.
   */
  redialSilent(silent: readonly string[]): void {
    const wanted = new Set(silent);
    for (const peer of this.#redials.keys()) if (!wanted.has(peer)) this.#redials.delete(peer);
    const now = this.#opts.now();
    for (const peer of silent) {
      const key = `redial:${peer}`;
      const addresses = this.#known.get(peer)?.addresses.filter((a) => !isRelayed(a)) ?? [];
      const attempt = this.#redials.get(peer) ?? { failures: 0, notBefore: 0 };
      if (addresses.length === 0 || this.#inFlight.has(key) || attempt.notBefore > now) continue;
      attempt.failures++;
      attempt.notBefore = now + backoffDelay(attempt.failures, this.#opts.backoff, this.#opts.random());
      this.#redials.set(peer, attempt);
      this.#inFlight.add(key);
      this.#host
        .dial(
          addresses.map((a) => multiaddr(withPeerId(a, peer))),
          { signal: AbortSignal.timeout(this.#opts.dialTimeoutMs), force: true },
        )
        .then(
          () => {
            this.#log.info({ peer }, 'opened a fresh connection to a peer heard on none of its connections');
            this.#opts.freshConnection?.(peer);
          },
          (err: unknown) => this.#log.debug({ peer, err: (err as Error).message }, 'fresh dial failed'),
        )
        .finally(() => this.#inFlight.delete(key));
    }
  }

  readonly #onClose = (evt: CustomEvent<Connection>): void => {
    const conn = evt.detail;
    if (conn.direction !== 'outbound') return;
    const peer = conn.remotePeer.toString();
    // libp2p stamps the timeline with the wall clock, which the agent's clock may not be (the simulator's).
    const short = (conn.timeline.close ?? Date.now()) - conn.timeline.open < SHORT_LINK_MS;
    const now = this.#opts.now();
    for (const [key, attempt] of this.#attempts) {
      if (attempt.peer !== peer) continue;
      if (!short) {
        this.#attempts.delete(key);
        continue;
      }
      const failures = attempt.failures + 1;
      const delay = backoffDelay(failures, this.#opts.backoff, this.#opts.random());
      this.#attempts.set(key, { failures, notBefore: now + delay, peer });
      this.#log.debug({ target: key, peer, failures, retryInMs: delay }, 'link closed soon after the dial');
    }
  };
}

const MAX_DIALS_PER_TICK = 3;

function isRelayed(address: string): boolean {
  return address.includes('/p2p-circuit');
}

/** Peers this agent has a direct link to; a relayed connection (limited) is no mesh link. */
export function directPeers(host: Pick<MeshHost, 'getConnections'>): PeerId[] {
  const peers = new Map<string, PeerId>();
  for (const c of host.getConnections()) if (isDirect(c)) peers.set(c.remotePeer.toString(), c.remotePeer);
  return [...peers.values()];
}

function peerIdOf(address: string): string | undefined {
  const match = /\/p2p\/([^/]+)$/.exec(address);
  return match?.[1];
}

/** `address` ending in `/p2p/<peerId>`, added unless it ends in one already. */
export function withPeerId(address: string, peerId: string): string {
  return peerIdOf(address) ? address : `${address}/p2p/${peerId}`;
}

/**
 * Addresses as advertised: without the /p2p suffix, without wildcard listen addresses. One relayed address per
 * relay comes first (not one through a relay's loopback): descriptions and peer exchange carry only the first 8,
 * and a device with many interfaces would otherwise push out the only addresses a peer behind another NAT can
 * reach it by.
 */
export function dialableAddresses(addresses: readonly string[]): string[] {
  const usable = addresses
    .map((a) => a.replace(/\/p2p\/[^/]+$/, ''))
    .filter((a) => !a.startsWith('/ip4/0.0.0.0/') && !a.startsWith('/ip6/::/'));
  const relays = new Set<string>();
  const first: string[] = [];
  for (const a of usable) {
    const relay = /\/p2p\/([^/]+)\/p2p-circuit$/.exec(a)?.[1];
    if (!relay || relays.has(relay) || /^\/(ip4\/127\.|ip6\/::1\/)/.test(a)) continue;
    relays.add(relay);
    first.push(a);
  }
  return [...first, ...usable.filter((a) => !first.includes(a))];
}
