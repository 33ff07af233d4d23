import { sample } from '../../lib/sample.js';

/**
 * How many neighbours an agent asks to relay the mesh's beats to it every interval. Beats reach an agent from its
 * relays and their relays: tracing back from any agent, the set of agents whose beats it hears grows by this
 * factor per hop. Fewer relays, fewer ways in for each beat: sim/scale/liveness-model.ts at 1,000 nodes, 50 ms
 * links and 30 % of digests lost has the longest silence at 8.0 s with 5 relays (57 nodes would suspect someone
 * alive) and 6.2 s with 8 (one node), against 5.5 s for a digest to every neighbour (about 10 there).
 */
export const RELAYS_WANTED = 8;

/**
 * The receiving side of relay selection: which neighbours this agent asks for every peer's beats. Every other
 * neighbour sends its own beat now and then and relays to whoever asked it. An agent's digest work is then
 * proportional to the relays its neighbours chose it as (RELAYS_WANTED on average), not to its connections; a
 * device whose only link is a busy hub still asks that hub, and hears it every interval. Pure: time and
 * randomness are arguments.
 */
export class RelayChoice {
  /** Chosen relay → when it was chosen. */
  readonly #chosen = new Map<string, number>();
  readonly #want: number;
  readonly #graceMs: number;

  /** `graceMs`: how long a relay may go without a full digest before another neighbour is asked instead. */
  constructor(want: number, graceMs: number) {
    this.#want = want;
    this.#graceMs = graceMs;
  }

  /**
   * Keeps the relays still connected and delivering (or newly asked), and fills up to the wanted number with
   * other neighbours at random. `lastFullDigest`: when that neighbour's last digest of every peer arrived. A relay
   * that stopped delivering (a link that carries one direction only, an old agent) is replaced, but asked again
   * when nobody else is left.
   */
  update(
    neighbours: readonly string[],
    lastFullDigest: (peer: string) => number | undefined,
    now: number,
    random: () => number,
  ): ReadonlySet<string> {
    const connected = new Set(neighbours);
    const dropped: string[] = [];
    for (const [peer, chosenAt] of this.#chosen) {
      if (!connected.has(peer)) {
        this.#chosen.delete(peer);
        continue;
      }
      const heard = lastFullDigest(peer);
      const silentSince = Math.max(chosenAt, heard ?? Number.NEGATIVE_INFINITY);
      if (now - silentSince > this.#graceMs) {
        this.#chosen.delete(peer);
        dropped.push(peer);
      }
    }
    const others = neighbours.filter((p) => !this.#chosen.has(p) && !dropped.includes(p));
    for (const peer of sample(others, Math.max(0, this.#want - this.#chosen.size), random))
      this.#chosen.set(peer, now);
    for (const peer of dropped) if (this.#chosen.size < this.#want) this.#chosen.set(peer, now);
    return this.chosen;
  }

  /** The neighbours asked now. */
  get chosen(): ReadonlySet<string> {
    return new Set(this.#chosen.keys());
  }
}
