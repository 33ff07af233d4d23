import type { Connection } from '@libp2p/interface';

/**
 * Which of a peer's connections a session protocol should use, from how sessions on each ended: a connection on
 * which sessions stall (no byte moves while the peer is otherwise alive) is passed over for another, and reported
 * once it has stalled `limit` sessions in a row so that the caller can close it for a fresh one.
 */
export class ConnectionStalls {
  readonly #limit: number;
  /** Stalls in a row, by connection id; bounded by the connections that are open and have stalled. */
  readonly #stalls = new Map<string, number>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  /**
   * Among open connections to one peer: the fewest stalls first, then the newest. When a peer holds several, the
   * older ones are what a restart or an address change left behind, dead until TCP gives up on them minutes later
   * (net/peer-links.ts), while the newest was dialled because the others went quiet; two dialled at once are both
   * good.
   */
  pick(connections: readonly Connection[]): Connection | undefined {
    const live = new Set(connections.map((c) => c.id));
    for (const id of this.#stalls.keys()) if (!live.has(id)) this.#stalls.delete(id);
    return [...connections].sort(
      (a, b) => this.#count(a) - this.#count(b) || b.timeline.open - a.timeline.open,
    )[0];
  }

  /** Records how a session on `connection` ended; true once it stalled `limit` sessions in a row. */
  record(connection: Connection, stalled: boolean): boolean {
    if (!stalled) {
      this.#stalls.delete(connection.id);
      return false;
    }
    const count = this.#count(connection) + 1;
    this.#stalls.set(connection.id, count);
    return count >= this.#limit;
  }

  #count(connection: Connection): number {
    return this.#stalls.get(connection.id) ?? 0;
  }
}
