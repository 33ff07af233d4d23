import type { Logger } from 'pino';
import { PeerRateLimiter, type RateLimit } from '../../lib/rate-limiter.js';
import type { MeshMetrics } from '../setup/metrics.js';

/** Per-peer limits on what others can make this agent do; generous for honest peers, fatal for floods. */
export const INBOUND_LIMITS = {
  /**
   * Anti-entropy sessions a peer may open: one per sync interval, more while gossip is lost (every change that
   * arrives before its dependencies asks for one). Sessions are cheap to refuse and capped in number already.
   */
  sync: { perSecond: 4, burst: 40 },
  peerExchange: { perSecond: 0.1, burst: 4 },
  /** Liveness digests by the neighbour that sends them: one every heartbeat interval. */
  liveness: { perSecond: 8, burst: 16 },
  /** State changes by their signer: bursts on job runs and allocation transitions; sync repairs what is dropped. */
  state: { perSecond: 20, burst: 200 },
} as const satisfies Record<string, RateLimit>;

const LOG_EVERY_MS = 10_000;

/**
 * The per-peer rate limits of every inbound path in one place: excess is dropped and counted
 * (`mycel_inbound_dropped_total{kind}`), and logged at most once per kind every ten seconds with a count, never
 * once per message, so a flood cannot turn into a flood of log lines.
 */
export class InboundLimits {
  readonly #limiters = new Map<string, PeerRateLimiter>();
  /** Per log line: how many went unlogged since it was last written, and a few of the peers. */
  readonly #unlogged = new Map<string, { count: number; peers: Set<string>; loggedAt: number }>();
  readonly #metrics: MeshMetrics;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(metrics: MeshMetrics, log: Logger, now: () => number) {
    this.#metrics = metrics;
    this.#log = log;
    this.#now = now;
  }

  /** True if `peer` may do one more `kind` now; otherwise the attempt is counted as dropped. */
  admit(kind: string, peer: string, limit: RateLimit): boolean {
    let limiter = this.#limiters.get(kind);
    if (!limiter) {
      limiter = new PeerRateLimiter(limit);
      this.#limiters.set(kind, limiter);
    }
    const now = this.#now();
    if (limiter.take(peer, now)) return true;
    this.#metrics.inboundDropped.inc({ kind });
    this.#note(`rate limit: ${kind}`, peer, undefined, now);
    return false;
  }

  /** Logs hostile or broken input (the caller counts it) at most once every ten seconds per kind. */
  rejected(kind: string, peer: string, reason: string): void {
    this.#note(`rejected: ${kind}`, peer, reason, this.#now());
  }

  #note(what: string, peer: string, reason: string | undefined, now: number): void {
    const pending = this.#unlogged.get(what) ?? { count: 0, peers: new Set<string>(), loggedAt: -Infinity };
    this.#unlogged.set(what, pending);
    pending.count++;
    if (pending.peers.size < 8) pending.peers.add(peer);
    if (now - pending.loggedAt < LOG_EVERY_MS) return;
    this.#log.warn({ dropped: pending.count, peers: [...pending.peers], lastReason: reason }, what);
    pending.count = 0;
    pending.peers.clear();
    pending.loggedAt = now;
  }
}
