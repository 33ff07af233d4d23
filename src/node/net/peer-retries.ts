import { type BackoffPolicy, backoffDelay } from '../../lib/backoff.js';

/**
 * Per-peer retries of a failed exchange: each failure in a row with a peer doubles its wait (with jitter) up to
 * the policy's cap, a success forgets the peer. At most `maxPeers` wait at once, so a mesh full of failing peers
 * costs a bounded number of timers; the others are left to the caller's periodic round.
 */
export class PeerRetries {
  readonly #pending = new Map<string, { failures: number; timer: NodeJS.Timeout }>();
  readonly #policy: BackoffPolicy;
  readonly #maxPeers: number;
  readonly #random: () => number;
  readonly #retry: (peer: string) => void;

  constructor(init: {
    policy: BackoffPolicy;
    maxPeers: number;
    random: () => number;
    retry: (peer: string) => void;
  }) {
    this.#policy = init.policy;
    this.#maxPeers = init.maxPeers;
    this.#random = init.random;
    this.#retry = init.retry;
  }

  failed(peer: string): void {
    const previous = this.#pending.get(peer);
    if (!previous && this.#pending.size >= this.#maxPeers) return;
    clearTimeout(previous?.timer);
    const failures = (previous?.failures ?? 0) + 1;
    const timer = setTimeout(() => this.#retry(peer), backoffDelay(failures, this.#policy, this.#random()));
    timer.unref();
    this.#pending.set(peer, { failures, timer });
  }

  succeeded(peer: string): void {
    clearTimeout(this.#pending.get(peer)?.timer);
    this.#pending.delete(peer);
  }

  stop(): void {
    for (const { timer } of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
  }
}
