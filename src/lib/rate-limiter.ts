/**
 * Token buckets keyed by peer id: each peer may spend `burst` at once and earns `perSecond` back. The map of
 * peers is bounded; the least recently seen peer is forgotten first (a forgotten peer starts with a full bucket,
 * which costs at most one burst, while a hostile peer inventing ids cannot grow our memory).
 */
export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class PeerRateLimiter {
  readonly #limit: RateLimit;
  readonly #maxPeers: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(limit: RateLimit, maxPeers = 1024) {
    if (!(limit.perSecond > 0 && limit.burst >= 1 && maxPeers >= 1)) throw new RangeError('bad rate limit');
    this.#limit = limit;
    this.#maxPeers = maxPeers;
  }

  /** Spends one token of `peer`'s bucket at time `now` (ms); false when the bucket is empty. */
  take(peer: string, now: number): boolean {
    const bucket = this.#buckets.get(peer) ?? { tokens: this.#limit.burst, at: now };
    this.#buckets.delete(peer);
    this.#buckets.set(peer, bucket);
    if (this.#buckets.size > this.#maxPeers) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(this.#limit.burst, bucket.tokens + (elapsed * this.#limit.perSecond) / 1000);
    bucket.at = Math.max(bucket.at, now);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.#buckets.size;
  }
}
