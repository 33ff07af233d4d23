import { TokenBucket } from './token-bucket.js';

/**
 * What one direction of a link does to traffic, from node `from` to node `to`.
 * - `down`: bytes in this direction are held, as TCP holds unacknowledged segments and retransmits them; a
 *   connection whose bytes stay held past `tcpTimeoutMs` is reset, as TCP's user timeout does. New connections
 *   need bytes both ways (the handshake), so a link down in either direction accepts no new connection.
 * - `noDial`: `from` cannot open a connection to `to` (a NAT or firewall in front of `to`); connections that
 *   `to` opens carry bytes both ways.
 */
export interface LinkRule {
  down: boolean;
  noDial: boolean;
  latencyMs: number;
  jitterMs: number;
  /** Undefined: unlimited. */
  bytesPerSecond: number | undefined;
}

const OPEN: LinkRule = { down: false, noDial: false, latencyMs: 0, jitterMs: 0, bytesPerSecond: undefined };

export interface TrafficCounters {
  bytesSent: number;
  bytesReceived: number;
  messagesReceived: number;
  messagesDropped: number;
}

export interface FaultNetworkOptions {
  now: () => number;
  random: () => number;
  /** How long held bytes keep a connection before it is reset (TCP's user timeout, scaled). */
  tcpTimeoutMs: number;
}

/**
 * The simulated network between named nodes: per-direction rules, address book (which address and peer id is
 * which node), per-link token buckets, and counters. Connections subscribe to changes so that held bytes move
 * the moment a link comes back.
 */
export class FaultNetwork {
  readonly options: FaultNetworkOptions;
  readonly #rules = new Map<string, Partial<LinkRule>>();
  #defaults: Partial<LinkRule> = {};
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #byAddress = new Map<string, string>();
  readonly #byPeer = new Map<string, string>();
  readonly #loss = new Map<string, number>();
  readonly #offline = new Map<string, Set<string>>();
  #defaultLoss = 0;
  readonly #listeners = new Set<() => void>();
  readonly counters = new Map<string, TrafficCounters>();

  constructor(options: FaultNetworkOptions) {
    this.options = options;
  }

  /**
   * Node `name` is `peerId` and listens on `ip` (one loopback address per node; an IP change moves it to another).
   * Addresses are known before the node listens, so a peer in another shard of the fleet never dials an address
   * the fault layer does not know.
   */
  register(name: string, peerId: string, ip: string): void {
    for (const [address, owner] of this.#byAddress) if (owner === name) this.#byAddress.delete(address);
    this.#byAddress.set(ip, name);
    this.#byPeer.set(peerId, name);
  }

  nodeAt(ip: string): string | undefined {
    return this.#byAddress.get(ip);
  }

  nodeOf(peerId: string): string | undefined {
    return this.#byPeer.get(peerId);
  }

  rule(from: string, to: string): LinkRule {
    const rule = { ...OPEN, ...this.#defaults, ...this.#rules.get(key(from, to)) };
    if (this.#offline.has(from) || this.#offline.has(to)) rule.down = true;
    return rule;
  }

  /** Sets fields of the rule from `from` to `to`; `both` sets the reverse direction too. */
  set(from: string, to: string, change: Partial<LinkRule>, both = false): void {
    this.#merge(from, to, change);
    if (both) this.#merge(to, from, change);
    this.#changed();
  }

  setDefaults(change: Partial<LinkRule>): void {
    this.#defaults = { ...this.#defaults, ...change };
    this.#buckets.clear();
    this.#changed();
  }

  /** Every link between different groups goes down both ways; links inside a group are left alone. */
  partition(groups: readonly (readonly string[])[]): void {
    for (const [i, a] of groups.entries())
      for (const [j, b] of groups.entries())
        if (i !== j) for (const x of a) for (const y of b) this.#merge(x, y, { down: true });
    this.#changed();
  }

  /** Every link back up and dialable; latency, jitter and bandwidth stay as set. */
  heal(): void {
    for (const rule of this.#rules.values()) {
      delete rule.down;
      delete rule.noDial;
    }
    this.#changed();
  }

  /**
   * Takes `name` off the network for `reason` (several reasons may overlap: a scenario's isolation and a
   * power-off), or puts it back once no reason is left. Partitions and link rules are untouched.
   */
  setOffline(name: string, reason: string, offline: boolean): void {
    const reasons = this.#offline.get(name) ?? new Set<string>();
    if (offline) reasons.add(reason);
    else reasons.delete(reason);
    if (reasons.size > 0) this.#offline.set(name, reasons);
    else this.#offline.delete(name);
    this.#changed();
  }

  /** Fraction of gossip messages and liveness digests `name` loses on receipt (undefined `name`: every node). */
  setLoss(fraction: number, name?: string): void {
    if (name === undefined) this.#defaultLoss = fraction;
    else this.#loss.set(name, fraction);
  }

  dropsMessage(name: string): boolean {
    const c = this.#counter(name);
    c.messagesReceived++;
    const lost = this.options.random() < (this.#loss.get(name) ?? this.#defaultLoss);
    if (lost) c.messagesDropped++;
    return lost;
  }

  /** When `bytes` sent now from `from` to `to` have left the link's token bucket. */
  depart(from: string, to: string, bytes: number, now: number): number {
    const rate = this.rule(from, to).bytesPerSecond;
    if (rate === undefined) return now;
    const k = key(from, to);
    let bucket = this.#buckets.get(k);
    if (bucket?.bytesPerSecond !== rate) {
      // A burst of a tenth of a second's worth, at least one TCP segment.
      bucket = new TokenBucket(rate, Math.max(1_460, rate / 10), now);
      this.#buckets.set(k, bucket);
    }
    return bucket.reserve(bytes, now);
  }

  countSent(from: string, to: string, bytes: number): void {
    this.#counter(from).bytesSent += bytes;
    this.#counter(to).bytesReceived += bytes;
  }

  /** Deny a new connection from `from` to `to`? */
  refusesDial(from: string, to: string): boolean {
    const there = this.rule(from, to);
    return there.down || there.noDial || this.rule(to, from).down;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #merge(from: string, to: string, change: Partial<LinkRule>, both = false): void {
    const k = key(from, to);
    this.#rules.set(k, { ...this.#rules.get(k), ...change });
    if (change.bytesPerSecond !== undefined) this.#buckets.delete(k);
    if (both) this.#merge(to, from, change);
  }

  #counter(name: string): TrafficCounters {
    let c = this.counters.get(name);
    if (!c) {
      c = { bytesSent: 0, bytesReceived: 0, messagesReceived: 0, messagesDropped: 0 };
      this.counters.set(name, c);
    }
    return c;
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }
}

function key(from: string, to: string): string {
  return `${from}>${to}`;
}
