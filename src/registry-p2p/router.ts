import type { Digest } from './digest.js';
import type { Holding } from './oci-protocol.js';
import type { PeerClient } from './peer-client.js';

/** A peer that holds a blob: all of it, or part of it while its own fetch is under way. */
export interface Holder {
  readonly peer: string;
  readonly holding: Holding;
}

export interface LookupOptions {
  /** Holders are sought until this aborts; a peer silent until then counts as not holding. */
  readonly signal: AbortSignal;
  /** Peers not to ask or return (penalised or excluded ones). */
  readonly skip?: (peer: string) => boolean;
}

/**
 * Content routing, after Spegel's `routing.Router`: who holds a digest. The fetcher asks it; how holders are
 * found (asking linked peers, a table in memory, a DHT) is the implementation's business.
 */
export interface Router {
  /** Tells the router this agent now holds `digests`. A router that asks peers on every lookup ignores it. */
  advertise(digests: readonly Digest[]): Promise<void>;
  /** Other peers that hold `digest`, in no particular order; never this agent. */
  lookup(digest: Digest, options: LookupOptions): Promise<Holder[]>;
}

/**
 * The production router: asks every peer this agent is linked to ("have", over the OCI stream protocol) and never
 * dials the fleet. Holdings travel only when asked, so advertising costs nothing.
 */
export class LinkedPeersRouter implements Router {
  readonly #peers: Pick<PeerClient, 'connectedPeers' | 'have'>;

  constructor(peers: Pick<PeerClient, 'connectedPeers' | 'have'>) {
    this.#peers = peers;
  }

  async advertise(): Promise<void> {}

  async lookup(digest: Digest, { signal, skip }: LookupOptions): Promise<Holder[]> {
    const asked = this.#peers.connectedPeers().filter((peer) => !skip?.(peer));
    const answers = await Promise.all(
      asked.map((peer) =>
        this.#peers
          .have(peer, [digest], signal)
          .then((have) => have[digest])
          .catch(() => undefined)
          .then((holding) => (holding ? { peer, holding } : undefined)),
      ),
    );
    return answers.filter((a) => a !== undefined);
  }
}

/**
 * A router over a table in memory, for tests and the simulator (like Spegel's MemoryRouter): routers made with
 * the same table see each other's advertisements, and a test can `set` what a peer holds directly.
 */
export class MemoryRouter implements Router {
  readonly #self: string;
  readonly #table: Map<Digest, Map<string, Holding>>;

  constructor(self: string, table: Map<Digest, Map<string, Holding>> = new Map()) {
    this.#self = self;
    this.#table = table;
  }

  set(peer: string, digest: Digest, holding: Holding | undefined): void {
    const holders = this.#table.get(digest) ?? new Map<string, Holding>();
    if (holding) holders.set(peer, holding);
    else holders.delete(peer);
    if (holders.size > 0) this.#table.set(digest, holders);
    else this.#table.delete(digest);
  }

  async advertise(digests: readonly Digest[]): Promise<void> {
    for (const digest of digests) this.set(this.#self, digest, 'complete');
  }

  async lookup(digest: Digest, { skip }: LookupOptions): Promise<Holder[]> {
    const holders = [...(this.#table.get(digest) ?? [])];
    return holders
      .filter(([peer]) => peer !== this.#self && !skip?.(peer))
      .map(([peer, holding]) => ({ peer, holding }));
  }
}
