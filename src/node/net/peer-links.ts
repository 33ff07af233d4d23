import type { Connection } from '@libp2p/interface';
import { isDirect } from '../../lib/p2p/newest-connection.js';

/**
 * Which of a peer's connections carries traffic, and which are dead weight, from when a liveness frame last
 * arrived on each. Pure: the caller passes the clock and closes what `redundantLinks` names.
 *
 * A peer can hold several connections to us: both sides dialled at once, or it restarted (lost power, changed
 * address) and dialled anew while our old connection to it stays open, dead, until TCP gives up minutes later.
 * Both ends must settle on the same one, or each would send on a connection the other then closes. They agree
 * without talking: the newest, and among connections opened within `tieMs` of each other (dialled at once, and
 * each end's clock saw them open in its own order) the one the peer with the lower id dialled.
 */
export interface LinkTiming {
  /** Frames arrived within this: the connection works. A couple of the sender's intervals. */
  readonly recentMs: number;
  /** Connections opened this close together count as opened at once. */
  readonly tieMs: number;
  /** A connection silent this long while another to the same peer works is closed. */
  readonly quietMs: number;
}

export type HeardOn = (connection: Connection) => number | undefined;

/** The connection to send on for each connected peer. */
export function chooseLinks(
  self: string,
  connections: readonly Connection[],
  timing: Pick<LinkTiming, 'tieMs'>,
): Map<string, Connection> {
  const chosen = new Map<string, Connection>();
  for (const [peer, links] of byPeer(connections)) {
    const newest = Math.max(...links.map((c) => c.timeline.open));
    const best = links
      .filter((c) => newest - c.timeline.open < timing.tieMs)
      .sort(
        (a, b) =>
          Number(dialledByLower(self, b)) - Number(dialledByLower(self, a)) ||
          b.timeline.open - a.timeline.open,
      )[0];
    if (best) chosen.set(peer, best);
  }
  return chosen;
}

/**
 * Duplicates to close: silent past `quietMs` (or never heard and open that long) while another connection to the
 * same peer was heard lately. The side with the higher id waits twice as long, so that two ends still settling on
 * a link never close one each.
 */
export function redundantLinks(
  self: string,
  connections: readonly Connection[],
  heardOn: HeardOn,
  now: number,
  timing: LinkTiming,
): Connection[] {
  const redundant: Connection[] = [];
  for (const [peer, links] of byPeer(connections)) {
    if (links.length < 2 || !links.some((c) => isRecent(heardOn(c), now, timing.recentMs))) continue;
    const quiet = self < peer ? timing.quietMs : 2 * timing.quietMs;
    redundant.push(...links.filter((c) => silentFor(c, heardOn, now, quiet)));
  }
  return redundant;
}

/**
 * Dead links: every connection to a peer silent past twice `quietMs` while `alive` says the peer's beats still
 * reach us through others. A neighbour sends its own beat on its link every interval, so a link that carries none
 * is dead (the peer's address changed under it, a path lost a direction), and TCP would hold it for minutes. A
 * peer heard nowhere is left alone: a partition's links carry their bytes again when it heals.
 */
export function deadLinks(
  connections: readonly Connection[],
  heardOn: HeardOn,
  alive: (peer: string) => boolean,
  now: number,
  timing: LinkTiming,
): Connection[] {
  const dead: Connection[] = [];
  for (const [peer, links] of byPeer(connections)) {
    if (links.some((c) => isRecent(heardOn(c), now, timing.recentMs)) || !alive(peer)) continue;
    dead.push(...links.filter((c) => silentFor(c, heardOn, now, 2 * timing.quietMs)));
  }
  return dead;
}

/**
 * Peers to dial afresh: every connection to them silent past `quietMs`, and their beats reach us through no
 * other. Either the path is cut, and a fresh dial fails at the cost of one attempt, or our end of it moved (this
 * device's address changed), and TCP would hold the dead connections for minutes while a fresh one works at once.
 * The old connections stay until the fresh one carries beats; then `redundantLinks` closes them.
 */
export function silentPeers(
  connections: readonly Connection[],
  heardOn: HeardOn,
  alive: (peer: string) => boolean,
  now: number,
  timing: LinkTiming,
): string[] {
  const silent: string[] = [];
  for (const [peer, links] of byPeer(connections))
    if (!alive(peer) && links.every((c) => silentFor(c, heardOn, now, timing.quietMs))) silent.push(peer);
  return silent;
}

function silentFor(c: Connection, heardOn: HeardOn, now: number, ms: number): boolean {
  return now - c.timeline.open >= ms && now - (heardOn(c) ?? c.timeline.open) >= ms;
}

function byPeer(connections: readonly Connection[]): Map<string, Connection[]> {
  const peers = new Map<string, Connection[]>();
  for (const c of connections) {
    if (c.status !== 'open' || !isDirect(c)) continue;
    const peer = c.remotePeer.toString();
    const list = peers.get(peer);
    if (list) list.push(c);
    else peers.set(peer, [c]);
  }
  return peers;
}

function isRecent(at: number | undefined, now: number, windowMs: number): boolean {
  return at !== undefined && now - at < windowMs;
}

/** True when the end with the lower peer id dialled `connection`: both ends compute the same answer. */
function dialledByLower(self: string, connection: Connection): boolean {
  const peer = connection.remotePeer.toString();
  return connection.direction === 'outbound' ? self < peer : peer < self;
}
