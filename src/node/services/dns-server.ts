/**
 * The UDP DNS server behind `meshd --dns-listen`: answers `NAME.service.mycel` from this agent's catalog
 * (dns-answers.ts). Whatever arrives is untrusted: a packet over the size limit, one that does not decode, a
 * response sent to us (a reflection) or anything past the rate limit is dropped, counted and logged at most once
 * per `logEveryMs`, never answered with an error that could be spoofed into a flood, and never stops the agent.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import * as dns from 'dns-packet';
import type { Logger } from '../../lib/logger.js';
import { answerQuery, MAX_UDP_SIZE, type ServiceLookup } from './dns-answers.js';

export interface DnsServerOptions {
  /** `host:port`; port 0 picks a free one (see `address`). */
  readonly listen: string;
  readonly lookup: ServiceLookup;
  readonly log: Logger;
  /** Queries answered per second at most; the rest are dropped. Default 2000. */
  readonly maxPerSecond?: number;
  readonly logEveryMs?: number;
  readonly now?: () => number;
}

type DropReason = 'oversize' | 'undecodable' | 'not-a-query' | 'rate' | 'failed';

export class DnsServer {
  readonly #socket: Socket;
  readonly #options: DnsServerOptions;
  readonly #now: () => number;
  #window = { start: 0, count: 0 };
  #dropped = new Map<DropReason, number>();
  #loggedAt = Number.NEGATIVE_INFINITY;

  private constructor(socket: Socket, options: DnsServerOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  static async start(options: DnsServerOptions): Promise<DnsServer> {
    const split = options.listen.lastIndexOf(':');
    const host = options.listen.slice(0, split).replace(/^\[(.*)\]$/, '$1');
    const port = Number(options.listen.slice(split + 1));
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: 256 * 1024 });
    const server = new DnsServer(socket, options);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (err) => options.log.warn({ err: String(err) }, 'DNS socket error'));
    socket.on('message', (message, peer) => server.#receive(message, peer.address, peer.port));
    return server;
  }

  get address(): { host: string; port: number } {
    const { address, port } = this.#socket.address();
    return { host: address, port };
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }

  #receive(message: Buffer, host: string, port: number): void {
    if (message.length > MAX_UDP_SIZE) {
      this.#drop('oversize');
      return;
    }
    if (!this.#admit()) {
      this.#drop('rate');
      return;
    }
    let query: dns.DecodedPacket;
    try {
      query = dns.decode(message);
    } catch {
      this.#drop('undecodable');
      return;
    }
    if (query.type !== 'query') {
      this.#drop('not-a-query');
      return;
    }
    let response: Buffer;
    try {
      response = answerQuery(query, this.#options.lookup);
    } catch (err) {
      // A query that decodes but that we cannot answer (a name dns-packet will not encode back): drop it.
      this.#options.log.debug({ err: String(err) }, 'DNS query not answered');
      this.#drop('failed');
      return;
    }
    this.#socket.send(response, port, host);
  }

  #admit(): boolean {
    const now = this.#now();
    if (now - this.#window.start >= 1_000) this.#window = { start: now, count: 0 };
    this.#window.count++;
    return this.#window.count <= (this.#options.maxPerSecond ?? 2_000);
  }

  #drop(reason: DropReason): void {
    this.#dropped.set(reason, (this.#dropped.get(reason) ?? 0) + 1);
    const now = this.#now();
    if (now - this.#loggedAt < (this.#options.logEveryMs ?? 10_000)) return;
    this.#loggedAt = now;
    this.#options.log.warn({ dropped: Object.fromEntries(this.#dropped) }, 'DNS packets dropped');
    this.#dropped = new Map();
  }
}
