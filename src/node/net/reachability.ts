import type { Connection } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { isDirect } from '../../lib/p2p/newest-connection.js';
import type { MeshHost } from './libp2p-host.js';
import type { RelayMode } from './relay-options.js';

/** What `meshctl status` says about whether peers can dial this device, and how it is reached when not. */
export interface ReachabilityView {
  /**
   * `reachable`: a peer outside this device's own subnet dialled it directly, or it has a public address (on an
   * interface, or confirmed by AutoNAT); `unreachable`: it has had direct links for a while and neither happened (behind NAT or an
   * egress-only firewall: peers reach it through its relays); `unknown`: too early to tell.
   */
  status: 'reachable' | 'unreachable' | 'unknown';
  /** Distinct peers from outside its subnet that dialled it directly since start (counted up to 64). */
  dialledInBy: number;
  /** Public addresses it advertises: on an interface, or observed by peers and confirmed by AutoNAT dial-backs. */
  publicAddresses: string[];
  relay: RelayMode;
  /** Its `/p2p-circuit` addresses: where peers reach it through a relay that holds its reservation. */
  relayAddresses: string[];
  /** Connections open now that run through a relay (limited in bytes and time). */
  relayedConnections: number;
  /** As a relay (`--relay server`): devices holding a reservation here. */
  reservationsHeld?: number;
}

const MAX_DIALLED_IN = 64;

type ReachabilityHost = Pick<
  MeshHost,
  'addEventListener' | 'removeEventListener' | 'getMultiaddrs' | 'getConnections' | 'services'
>;

/**
 * Learns reachability from the dial-backs this agent gets: a peer on another network that opened a direct
 * connection to it could dial it, which is what a device behind NAT never sees. Peers on its own subnet (the
 * site's LAN) prove nothing about the outside and are not counted. AutoNAT's confirmations count too; it checks
 * only public addresses, so on a private network (a test, a fleet on a VPN) the dial-backs are what decide.
 */
export class Reachability {
  readonly #host: ReachabilityHost;
  readonly #relay: RelayMode;
  readonly #graceMs: number;
  readonly #now: () => number;
  readonly #dialledIn = new Set<string>();
  #firstLinkAt: number | undefined;

  constructor(host: ReachabilityHost, options: { relay: RelayMode; graceMs: number; now: () => number }) {
    this.#host = host;
    this.#relay = options.relay;
    this.#graceMs = options.graceMs;
    this.#now = options.now;
  }

  start(): void {
    this.#host.addEventListener('connection:open', this.#onOpen);
  }

  stop(): void {
    this.#host.removeEventListener('connection:open', this.#onOpen);
  }

  readonly #onOpen = (evt: CustomEvent<Connection>): void => {
    const c = evt.detail;
    if (!isDirect(c)) return;
    this.#firstLinkAt ??= this.#now();
    if (c.direction !== 'inbound' || this.#dialledIn.size >= MAX_DIALLED_IN) return;
    if (fromOutside(c.remoteAddr, this.#host.getMultiaddrs())) this.#dialledIn.add(c.remotePeer.toString());
  };

  view(): ReachabilityView {
    const own = this.#host.getMultiaddrs();
    const publicAddresses = own.filter(isPublic).map(String);
    const relayAddresses = own.filter((a) => a.toString().includes('/p2p-circuit')).map(String);
    const open = this.#host.getConnections();
    const reservations = this.#host.services.relay?.reservations.size;
    const settled = this.#firstLinkAt !== undefined && this.#now() - this.#firstLinkAt >= this.#graceMs;
    return {
      status: reachabilityStatus(this.#dialledIn.size, publicAddresses.length, settled),
      dialledInBy: this.#dialledIn.size,
      publicAddresses,
      relay: this.#relay,
      relayAddresses,
      relayedConnections: open.filter((c) => !isDirect(c)).length,
      ...(reservations === undefined ? {} : { reservationsHeld: reservations }),
    };
  }
}

export function reachabilityStatus(
  dialledIn: number,
  publicAddresses: number,
  settled: boolean,
): ReachabilityView['status'] {
  if (dialledIn > 0 || publicAddresses > 0) return 'reachable';
  return settled ? 'unreachable' : 'unknown';
}

/**
 * True when `remote` is not on any subnet of `own` (IPv4 /24, IPv6 /64). Addresses that are not IP (a relayed
 * one) are never from outside: the relay dialled, not the peer.
 */
export function fromOutside(remote: Multiaddr, own: readonly Multiaddr[]): boolean {
  const theirs = ipOf(remote);
  if (!theirs || theirs.loopback) return false;
  return !own.some((a) => {
    const mine = ipOf(a);
    return mine !== undefined && mine.family === theirs.family && mine.subnet === theirs.subnet;
  });
}

function ipOf(ma: Multiaddr): { family: 4 | 6; subnet: string; loopback: boolean } | undefined {
  const text = ma.toString();
  if (text.includes('/p2p-circuit')) return undefined;
  const m = /^\/(ip4|ip6)\/([^/]+)/.exec(text);
  if (!m?.[2]) return undefined;
  const host = m[2];
  if (m[1] === 'ip4')
    return { family: 4, subnet: host.split('.').slice(0, 3).join('.'), loopback: host.startsWith('127.') };
  return { family: 6, subnet: expand6(host).slice(0, 4).join(':'), loopback: host === '::1' };
}

function expand6(host: string): string[] {
  const [head = '', tail] = host.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...fill, ...right];
}

/**
 * A public IP address among this agent's own: an interface's, or an observed one, which libp2p advertises only
 * once AutoNAT had peers dial it back. Never a relayed one.
 */
function isPublic(ma: Multiaddr): boolean {
  return ipOf(ma) !== undefined && !PRIVATE.some((re) => re.test(ma.toString()));
}

const PRIVATE = [
  /^\/ip4\/(10|127|0)\./,
  /^\/ip4\/192\.168\./,
  /^\/ip4\/172\.(1[6-9]|2\d|3[01])\./,
  /^\/ip4\/169\.254\./,
  /^\/ip4\/100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./,
  /^\/ip6\/(::1|f[cd]|fe80)/i,
];
