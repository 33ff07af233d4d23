import type { Connection } from '@libp2p/interface';
import type { Logger } from 'pino';
import type { MeshHost } from './libp2p-host.js';

/**
 * A full agent still answers a newcomer. libp2p admits `INTRODUCTION_SLOTS` connections past the agent's limit;
 * such a connection stays open for a grace period, long enough for the newcomer's identify, peer exchange and
 * first liveness digest, which hand it other members' addresses, and then closes if the agent is still over its
 * limit. Every device of a fleet is flashed with the same bootstrap address: refusing at the limit left each
 * device after the first `maxConnections` alone, knowing nobody else.
 */
export class Introductions {
  readonly #host: MeshHost;
  readonly #maxConnections: number;
  readonly #graceMs: number;
  readonly #introduced: () => void;
  readonly #log: Logger;
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(
    host: MeshHost,
    opts: { maxConnections: number; graceMs: number; introduced: () => void },
    log: Logger,
  ) {
    this.#host = host;
    this.#maxConnections = opts.maxConnections;
    this.#graceMs = opts.graceMs;
    this.#introduced = opts.introduced;
    this.#log = log;
  }

  start(): void {
    this.#host.addEventListener('connection:open', this.#onOpen);
  }

  stop(): void {
    this.#host.removeEventListener('connection:open', this.#onOpen);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  readonly #onOpen = (evt: CustomEvent<Connection>): void => {
    const conn = evt.detail;
    if (conn.direction !== 'inbound' || !this.#overLimit()) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#letGo(conn);
    }, this.#graceMs);
    timer.unref();
    this.#timers.add(timer);
  };

  /** Kept if a link closed meanwhile and the agent has room again: then it is an ordinary link. */
  #letGo(conn: Connection): void {
    if (conn.status !== 'open' || !this.#overLimit()) return;
    this.#log.debug(
      { peer: conn.remotePeer.toString() },
      'introduced a newcomer; closing its link, this agent is at its connection limit',
    );
    this.#introduced();
    void conn.close().catch((err: unknown) => conn.abort(err as Error));
  }

  #overLimit(): boolean {
    return this.#host.getConnections().length > this.#maxConnections;
  }
}
