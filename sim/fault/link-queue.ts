import type { FaultNetwork } from './fault-network.js';

interface Chunk {
  bytes: Uint8Array;
  /** When the chunk reaches the far end; undefined while the link holds it (down). */
  arriveAt: number | undefined;
  heldSince: number | undefined;
}

/**
 * One direction of one connection: chunks leave through the link's token bucket, arrive after latency and
 * jitter, in order (TCP never reorders), and wait while the link is down. Held bytes older than the network's
 * TCP timeout reset the connection.
 */
export class LinkQueue {
  readonly #network: FaultNetwork;
  readonly #from: string;
  readonly #to: string;
  readonly #deliver: (bytes: Uint8Array) => void;
  readonly #reset: (reason: string) => void;
  readonly #chunks: Chunk[] = [];
  #queuedBytes = 0;
  #lastArrival = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #idle = new Set<() => void>();

  constructor(init: {
    network: FaultNetwork;
    from: string;
    to: string;
    deliver: (bytes: Uint8Array) => void;
    reset: (reason: string) => void;
  }) {
    this.#network = init.network;
    this.#from = init.from;
    this.#to = init.to;
    this.#deliver = init.deliver;
    this.#reset = init.reset;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  get holding(): boolean {
    return this.#chunks.some((c) => c.arriveAt === undefined);
  }

  push(bytes: Uint8Array): void {
    if (this.#closed) return;
    const chunk: Chunk = { bytes, arriveAt: undefined, heldSince: undefined };
    this.#network.countSent(this.#from, this.#to, bytes.byteLength);
    this.#schedule(chunk, this.#network.options.now());
    this.#chunks.push(chunk);
    this.#queuedBytes += bytes.byteLength;
    this.#arm();
  }

  /** The link's rule changed: held chunks may go now, timings of waiting ones stay as they were. */
  linkChanged(): void {
    if (this.#closed) return;
    const now = this.#network.options.now();
    for (const chunk of this.#chunks) if (chunk.arriveAt === undefined) this.#schedule(chunk, now);
    this.#arm();
  }

  /** Resolves once every queued byte has arrived (or the queue closed). */
  idle(): Promise<void> {
    if (this.#chunks.length === 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#idle.add(resolve));
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#chunks.length = 0;
    this.#queuedBytes = 0;
    this.#settleIdle();
  }

  #schedule(chunk: Chunk, now: number): void {
    const rule = this.#network.rule(this.#from, this.#to);
    if (rule.down) {
      chunk.heldSince ??= now;
      return;
    }
    const departed = this.#network.depart(this.#from, this.#to, chunk.bytes.byteLength, now);
    const jitter = rule.jitterMs > 0 ? this.#network.options.random() * rule.jitterMs : 0;
    chunk.arriveAt = Math.max(this.#lastArrival, departed + rule.latencyMs + jitter);
    chunk.heldSince = undefined;
    this.#lastArrival = chunk.arriveAt;
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const head = this.#chunks[0];
    if (!head || this.#closed) return;
    const now = this.#network.options.now();
    if (head.arriveAt === undefined) {
      // Held: wake when TCP would give up; a link change re-arms earlier.
      const giveUpAt = (head.heldSince ?? now) + this.#network.options.tcpTimeoutMs;
      this.#timer = setTimeout(() => this.#giveUpIfStillHeld(), Math.max(0, giveUpAt - now));
      return;
    }
    this.#timer = setTimeout(() => this.#flush(), Math.max(0, head.arriveAt - now));
  }

  #giveUpIfStillHeld(): void {
    const head = this.#chunks[0];
    const now = this.#network.options.now();
    if (head?.arriveAt === undefined && head?.heldSince !== undefined) {
      if (now - head.heldSince >= this.#network.options.tcpTimeoutMs) {
        this.#reset(`bytes held ${Math.round(now - head.heldSince)} ms on a down link`);
        return;
      }
    }
    this.#arm();
  }

  #flush(): void {
    const now = this.#network.options.now();
    const down = this.#network.rule(this.#from, this.#to).down;
    while (this.#chunks.length > 0 && !this.#closed) {
      const head = this.#chunks[0] as Chunk;
      if (head.arriveAt === undefined || head.arriveAt > now) break;
      if (down) {
        // In flight when the link went down: lost on the wire, TCP sends it again once the link is back.
        for (const c of this.#chunks) {
          if (c.arriveAt === undefined) continue;
          c.arriveAt = undefined;
          c.heldSince = now;
        }
        break;
      }
      this.#chunks.shift();
      this.#queuedBytes -= head.bytes.byteLength;
      this.#deliver(head.bytes);
    }
    if (this.#chunks.length === 0) this.#settleIdle();
    this.#arm();
  }

  #settleIdle(): void {
    for (const resolve of this.#idle) resolve();
    this.#idle.clear();
  }
}
