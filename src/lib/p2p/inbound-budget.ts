/**
 * Bytes that every framed stream of this process holds unread, together. Each stream is bounded on its own, but
 * a few dozen peers each holding a few streams at their bound (a frame short of its last byte) would still take
 * the agent past a small device's memory. Past the budget, the stream that receives more is reset instead: its
 * peer retries later, and the agent lives.
 */
export class InboundBudget {
  readonly limitBytes: number;
  #used = 0;

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  get usedBytes(): number {
    return this.#used;
  }

  /** Counts `bytes` in, unless that would pass the budget. */
  take(bytes: number): boolean {
    if (this.#used + bytes > this.limitBytes) return false;
    this.#used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}

/**
 * The agent's budget. Honest peers hold little here at once: blob data pauses at one 128 KiB frame per stream,
 * and state sync rounds are about 1 MiB (a lone oversized document up to 4 MiB), lock-step, a few at a time.
 * Sixteen peers that each withheld the last byte of their largest frames on every stream they may open took an
 * agent from 107 to 300 MB RSS without it; with it, to 204 MB, the rest being the bytes received and refused.
 */
export const PROCESS_INBOUND_BUDGET = new InboundBudget(16 * 1024 * 1024);
