/**
 * Host ports for copies' dynamic ports (a job port without `host`), from this device's range (`meshd
 * --port-range`), as Nomad hands them out. A copy keeps its ports for its whole life here, restarts included,
 * and gives them back when it ends. No two copies get one port, none gets a static port of a copy known here,
 * and none gets a port something on the host already holds: each candidate is bound once and let go before it is
 * handed out. The range is walked from a random start, round robin, so agents sharing a host rarely try the same
 * port and a port just given back is not handed out again at once.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** As config.ts's default: Nomad's range, above the usual static ports, below Linux's ephemeral ones. */
export const DEFAULT_PORT_RANGE: PortRange = { from: 20_000, to: 32_000 };

export interface PortRequest {
  readonly name: string;
  /** A static port: noted as taken, never handed out to another copy. */
  readonly host?: number | undefined;
  readonly protocol: 'tcp' | 'udp';
}

/** Whether `port` can be bound on every address right now. */
export type PortProbe = (port: number, protocol: 'tcp' | 'udp') => Promise<boolean>;

export class PortRangeExhausted extends Error {
  constructor(range: PortRange) {
    super(
      `no free port left in this device's range ${range.from}-${range.to} ` +
        '(widen it with meshd --port-range, or run fewer copies with dynamic ports here)',
    );
  }
}

/** `FROM-TO` as config.ts validated it. */
export function parsePortRange(text: string): PortRange {
  const [from, to] = text.split('-').map(Number) as [number, number];
  return { from, to };
}

export class PortAllocator {
  /** allocId → port name → host port, dynamic ports only. */
  readonly #dynamic = new Map<string, Map<string, number>>();
  /** allocId → static host ports of the copy. */
  readonly #static = new Map<string, readonly number[]>();
  /** Ports some copy holds (or a claim is probing), dynamic and static. */
  readonly #taken = new Map<number, number>();
  #cursor: number;

  constructor(
    private readonly range: PortRange,
    private readonly probe: PortProbe = bindProbe,
    random: () => number = Math.random,
  ) {
    this.#cursor = range.from + Math.floor(random() * (range.to - range.from + 1));
  }

  /** The copy's dynamic ports, by name; empty when it has none here. */
  ports(allocId: string): Record<string, number> {
    return Object.fromEntries(this.#dynamic.get(allocId) ?? []);
  }

  /**
   * A copy that already runs (an agent restart): it holds what its status recorded, without a probe, since it
   * is the one bound to them.
   */
  adopt(
    allocId: string,
    requests: readonly PortRequest[],
    recorded: Readonly<Record<string, number>> = {},
  ): void {
    this.release(allocId);
    this.#noteStatic(allocId, requests);
    const held = new Map<string, number>();
    for (const r of requests) {
      const port = r.host === undefined && Object.hasOwn(recorded, r.name) ? recorded[r.name] : undefined;
      if (port === undefined || this.#taken.has(port)) continue;
      held.set(r.name, port);
      this.#take(port);
    }
    this.#dynamic.set(allocId, held);
  }

  /**
   * The copy's dynamic ports, by name: the ones it holds already, else the ones its status recorded (when still
   * free), else new ones. Throws PortRangeExhausted when the range has none left.
   */
  async claim(
    allocId: string,
    requests: readonly PortRequest[],
    recorded: Readonly<Record<string, number>> = {},
  ): Promise<Record<string, number>> {
    if (!this.#static.has(allocId)) this.#noteStatic(allocId, requests);
    const held = this.#dynamic.get(allocId) ?? new Map<string, number>();
    this.#dynamic.set(allocId, held);
    for (const r of requests) {
      if (r.host !== undefined || held.has(r.name)) continue;
      const wish = Object.hasOwn(recorded, r.name) ? recorded[r.name] : undefined;
      const port =
        wish !== undefined && this.#inRange(wish) && (await this.#tryTake(wish, r.protocol))
          ? wish
          : await this.#search(r.protocol);
      // Released while probing (the copy ended): give the port back rather than leak it.
      if (this.#dynamic.get(allocId) !== held) {
        this.#untake(port);
        continue;
      }
      held.set(r.name, port);
    }
    return Object.fromEntries(held);
  }

  /** The copy ended: its ports are free again. */
  release(allocId: string): void {
    for (const port of this.#dynamic.get(allocId)?.values() ?? []) this.#untake(port);
    for (const port of this.#static.get(allocId) ?? []) this.#untake(port);
    this.#dynamic.delete(allocId);
    this.#static.delete(allocId);
  }

  #noteStatic(allocId: string, requests: readonly PortRequest[]): void {
    const ports = [...new Set(requests.flatMap((r) => (r.host === undefined ? [] : [r.host])))];
    for (const port of ports) this.#take(port);
    this.#static.set(allocId, ports);
  }

  async #search(protocol: 'tcp' | 'udp'): Promise<number> {
    const size = this.range.to - this.range.from + 1;
    for (let tried = 0; tried < size; tried++) {
      const port = this.#cursor;
      this.#cursor = port >= this.range.to ? this.range.from : port + 1;
      if (await this.#tryTake(port, protocol)) return port;
    }
    throw new PortRangeExhausted(this.range);
  }

  /** Takes the port before probing it, so a claim running meanwhile cannot pick it too. */
  async #tryTake(port: number, protocol: 'tcp' | 'udp'): Promise<boolean> {
    if (this.#taken.has(port)) return false;
    this.#take(port);
    let free = false;
    try {
      free = await this.probe(port, protocol);
    } catch {
      free = false;
    }
    if (!free) this.#untake(port);
    return free;
  }

  #inRange(port: number): boolean {
    return port >= this.range.from && port <= this.range.to;
  }

  #take(port: number): void {
    this.#taken.set(port, (this.#taken.get(port) ?? 0) + 1);
  }

  #untake(port: number): void {
    const n = this.#taken.get(port) ?? 0;
    if (n <= 1) this.#taken.delete(port);
    else this.#taken.set(port, n - 1);
  }
}

/**
 * Binds the port on the wildcard address and lets it go: a wildcard bind fails when any address holds the port,
 * a copy's own listener or docker-proxy's for a published port included.
 */
export function bindProbe(port: number, protocol: 'tcp' | 'udp'): Promise<boolean> {
  return new Promise((resolve) => {
    if (protocol === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port, () => socket.close(() => resolve(true)));
      return;
    }
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
