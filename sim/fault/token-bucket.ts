/**
 * A link's bandwidth: tokens (bytes) refill at `bytesPerSecond` up to `burstBytes`. A send larger than the
 * tokens on hand goes into debt, and the debt is the queueing delay of everything behind it, as on a real
 * serialising link.
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #last: number;

  constructor(bytesPerSecond: number, burstBytes: number, now: number) {
    if (!(bytesPerSecond > 0)) throw new Error(`bandwidth must be positive, got ${bytesPerSecond}`);
    this.#rate = bytesPerSecond;
    this.#burst = Math.max(1, burstBytes);
    this.#tokens = this.#burst;
    this.#last = now;
  }

  get bytesPerSecond(): number {
    return this.#rate;
  }

  /** Takes `bytes` and returns when they have left the link (ms, the clock of `now`). */
  reserve(bytes: number, now: number): number {
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) * this.#rate) / 1000);
    this.#last = now;
    this.#tokens -= bytes;
    return this.#tokens >= 0 ? now : now + (-this.#tokens / this.#rate) * 1000;
  }
}
