/**
 * Each agent's own view of who is alive. Pure: time comes in as an argument. Every agent counts its own beats
 * (one per heartbeat interval, from 0 in each incarnation); a peer is heard when its beat advances, whichever
 * neighbour relayed it (liveness-digest.ts). Status is derived from the time since its beat last advanced, so
 * two agents that heard the same beats at the same times agree.
 */
export type LivenessStatus = 'alive' | 'suspect' | 'lost';

export interface PeerView {
  peerId: string;
  name: string;
  addresses: string[];
  incarnation: number;
  /** The newest beat heard in this incarnation. */
  beat: number;
  status: LivenessStatus;
  firstSeen: number;
  lastSeen: number;
}

export interface LivenessTimes {
  suspectAfterMs: number;
  lostAfterMs: number;
  /** Lost peers are forgotten after this long, which bounds the view on fleets that churn. */
  forgetAfterMs: number;
}

export interface LivenessChange {
  peerId: string;
  name: string;
  from: LivenessStatus | 'unknown';
  to: LivenessStatus | 'forgotten';
  restarted?: boolean;
}

interface Entry extends Omit<PeerView, 'status'> {
  reported: LivenessStatus;
}

export class LivenessView {
  readonly #entries = new Map<string, Entry>();
  readonly #times: LivenessTimes;

  constructor(times: LivenessTimes) {
    this.#times = times;
  }

  /**
   * A peer's beat, heard directly or relayed. Only a newer (incarnation, beat) counts as hearing the peer: the
   * same beat relayed by every neighbour, or an old one delivered late, moves nothing. A description (name,
   * addresses) is taken with the newest beat or the same one, since it may arrive after the beat itself; a peer
   * not yet described cannot enter the view. Returns the change it caused, if any.
   */
  observe(
    peerId: string,
    at: number,
    beat: { incarnation: number; beat: number; name?: string; addresses?: string[] },
  ): LivenessChange | undefined {
    const entry = this.#entries.get(peerId);
    const { incarnation, name, addresses } = beat;
    if (!entry) {
      if (name === undefined) return undefined;
      this.#entries.set(peerId, {
        peerId,
        name,
        addresses: addresses ?? [],
        incarnation,
        beat: beat.beat,
        firstSeen: at,
        lastSeen: at,
        reported: 'alive',
      });
      return { peerId, name, from: 'unknown', to: 'alive' };
    }
    if (incarnation < entry.incarnation || (incarnation === entry.incarnation && beat.beat < entry.beat))
      return undefined;
    if (name !== undefined) entry.name = name;
    if (addresses !== undefined) entry.addresses = addresses;
    const restarted = incarnation > entry.incarnation;
    // A relay can deliver a newer beat at an earlier local time than one already counted only if the clock
    // stepped back; lastSeen never moves backwards.
    if ((!restarted && beat.beat === entry.beat) || at < entry.lastSeen) return undefined;
    entry.incarnation = incarnation;
    entry.beat = beat.beat;
    entry.lastSeen = at;
    const from = entry.reported;
    entry.reported = 'alive';
    if (from !== 'alive' || restarted) return { peerId, name: entry.name, from, to: 'alive', restarted };
    return undefined;
  }

  statusAt(lastSeen: number, now: number): LivenessStatus {
    const silent = now - lastSeen;
    if (silent >= this.#times.lostAfterMs) return 'lost';
    if (silent >= this.#times.suspectAfterMs) return 'suspect';
    return 'alive';
  }

  /** Advance to `now`: report status transitions and forget long-lost peers. */
  tick(now: number): LivenessChange[] {
    const changes: LivenessChange[] = [];
    for (const entry of this.#entries.values()) {
      if (now - entry.lastSeen >= this.#times.forgetAfterMs) {
        this.#entries.delete(entry.peerId);
        changes.push({ peerId: entry.peerId, name: entry.name, from: entry.reported, to: 'forgotten' });
        continue;
      }
      const status = this.statusAt(entry.lastSeen, now);
      if (status !== entry.reported) {
        changes.push({ peerId: entry.peerId, name: entry.name, from: entry.reported, to: status });
        entry.reported = status;
      }
    }
    return changes;
  }

  /**
   * This agent could hear nothing for `ms` (its own event loop stalled: a starved CPU, a long pause, a suspended
   * device), so that time is not its peers' silence: every peer's last-heard time moves forward by `ms`, never
   * past `now`. Without this, an agent coming back from a stall judges the whole mesh lost before it has read
   * the beats waiting in its sockets, closes every link and places every copy on itself.
   */
  excuse(ms: number, now: number): void {
    for (const entry of this.#entries.values())
      entry.lastSeen = Math.max(entry.lastSeen, Math.min(now, entry.lastSeen + ms));
  }

  /** Drops a peer at once (a revoked device); true if it was known. */
  forget(peerId: string): boolean {
    return this.#entries.delete(peerId);
  }

  get(peerId: string, now: number): PeerView | undefined {
    const entry = this.#entries.get(peerId);
    return entry ? toView(entry, this.statusAt(entry.lastSeen, now)) : undefined;
  }

  /** Every known peer, sorted by peer id so output is stable. */
  list(now: number): PeerView[] {
    return [...this.#entries.values()]
      .sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0))
      .map((entry) => toView(entry, this.statusAt(entry.lastSeen, now)));
  }

  /**
   * The peers heard within the lost period, unsorted and uncopied (do not change them): what a liveness digest
   * carries every interval, where `list` would sort and copy the whole view each time.
   */
  *heard(now: number): Generator<Readonly<Omit<PeerView, 'status'>>> {
    for (const entry of this.#entries.values())
      if (now - entry.lastSeen < this.#times.lostAfterMs) yield entry;
  }

  counts(now: number): Record<LivenessStatus, number> {
    const counts = { alive: 0, suspect: 0, lost: 0 };
    for (const entry of this.#entries.values()) counts[this.statusAt(entry.lastSeen, now)]++;
    return counts;
  }
}

function toView(entry: Entry, status: LivenessStatus): PeerView {
  const { reported: _reported, ...rest } = entry;
  return { ...rest, addresses: [...rest.addresses], status };
}
