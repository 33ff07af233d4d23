/**
 * Which peers to avoid as sources and until when. Serving bytes that do not match their digest is a hard
 * offence (a long ban: the peer is broken or hostile); stalling or failing is soft (a short cool-down, since a
 * loaded device recovers). Bounded: the oldest record goes first.
 */
export type Offence = 'corrupt' | 'stalled' | 'failed';

const BAN_MS: Record<Offence, number> = { corrupt: 10 * 60_000, stalled: 30_000, failed: 10_000 };
const MAX_PEERS = 1024;

export interface PenaltyRecord {
  readonly offences: Readonly<Record<Offence, number>>;
  readonly until: number;
}

export class PeerScores {
  readonly #records = new Map<string, { offences: Record<Offence, number>; until: number }>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  penalise(peer: string, offence: Offence): void {
    const record = this.#records.get(peer) ?? { offences: { corrupt: 0, stalled: 0, failed: 0 }, until: 0 };
    record.offences[offence]++;
    record.until = Math.max(record.until, this.#now() + BAN_MS[offence]);
    this.#records.delete(peer);
    this.#records.set(peer, record);
    while (this.#records.size > MAX_PEERS) this.#records.delete(this.#records.keys().next().value as string);
  }

  usable(peer: string): boolean {
    return (this.#records.get(peer)?.until ?? 0) <= this.#now();
  }

  get(peer: string): PenaltyRecord | undefined {
    return this.#records.get(peer);
  }
}
