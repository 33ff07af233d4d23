import type { Connection } from '@libp2p/interface';
import type { Logger } from 'pino';
import type { MeshHost } from './libp2p-host.js';

/**
 * A full agent still answers a newcomer. libp2p admits `INTRODUCTION_SLOTS` connections past the agent's limit;
 * such a connection stays open until the newcomer has had the agent's peer exchange (other members' addresses)
 * or for `graceMs` at most, and then closes if the agent is still over its limit. Every device of a fleet is
 * flashed with the same bootstrap address: refusing at the limit left each device after the first
 * `maxConnections` alone, knowing nobody else.
 */
export class Introductions {
  readonly #host: MeshHost;
  readonly #opts: IntroductionOptions;
  readonly #log: Logger;
  readonly #pending = new Map<Connection, NodeJS.Timeout>();

  constructor(host: MeshHost, opts: IntroductionOptions, log: Logger) {
    this.#host = host;
    this.#opts = opts;
    this.#log = log;
  }

  start(): void {
    this.#host.addEventListener('connection:open', this.#onOpen);
  }

  stop(): void {
    this.#host.removeEventListener('connection:open', this.#onOpen);
    for (const timer of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
  }

  /** `peer` has read this agent's peer exchange: an introduction to it has done its work. */
  served(peer: string): void {
    for (const conn of this.#pending.keys())
      if (conn.remotePeer.toString() === peer) this.#letGoIn(conn, this.#opts.lingerMs);
  }

  readonly #onOpen = (evt: CustomEvent<Connection>): void => {
    const conn = evt.detail;
    if (conn.direction === 'inbound' && this.#overLimit()) this.#letGoIn(conn, this.#opts.graceMs);
  };

  #letGoIn(conn: Connection, ms: number): void {
    clearTimeout(this.#pending.get(conn));
    const timer = setTimeout(() => {
      this.#pending.delete(conn);
      this.#letGo(conn);
    }, ms);
    timer.unref();
    this.#pending.set(conn, timer);
  }

  /** Kept if a link closed meanwhile and the agent has room again: then it is an ordinary link. */
  #letGo(conn: Connection): void {
    if (conn.status !== 'open' || !this.#overLimit()) return;
    this.#log.debug(
      { peer: conn.remotePeer.toString() },
      'introduced a newcomer; closing its link, this agent is at its connection limit',
    );
    this.#opts.introduced();
    void conn.close().catch((err: unknown) => conn.abort(err as Error));
  }

  #overLimit(): boolean {
    return this.#host.getConnections().length > this.#opts.maxConnections;
  }
}

export interface IntroductionOptions {
  maxConnections: number;
  /** The longest an introduction stays open: the newcomer may never ask for peers. */
  graceMs: number;
  /** How long it stays once the newcomer has its answer: the bytes reach it, and its first digest with them. */
  lingerMs: number;
  introduced: () => void;
}
