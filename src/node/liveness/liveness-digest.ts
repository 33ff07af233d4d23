import { parseJson } from '../../lib/json-text.js';
import type { Result } from '../../lib/result.js';

/**
 * The liveness digest: what an agent tells a direct neighbour every heartbeat interval, namely the newest beat it
 * holds of itself and of every peer it hears, so that liveness spreads hop by hop instead of every agent's
 * heartbeat reaching every agent. It doubles as the address book: one bootstrap address finds the mesh.
 *
 * A frame also says whether its sender wants the reader to relay every peer's beats to it (liveness-relays.ts), and
 * whether it carries only the sender's own beat: what a neighbour that did not ask gets instead, every interval.
 *
 * Frames go in order on one stream per neighbour, so they are compact: a peer is described once per stream (peer
 * id, incarnation, name, addresses) under a small slot number, and after that a frame carries only the beats, as
 * one array indexed by slot: a few bytes per peer. Beats are absolute, so a frame lost or skipped costs nothing
 * but that frame. A reader that dropped a frame (rate limits, the simulator's losses) or met a beat in a slot it
 * never heard described asks, in a frame of its own on the same link, to have every peer described again; no
 * change, no descriptions. Describing every peer again every REFRESH_EVERY frames regardless once cost more than
 * the beats themselves (20 peers of 8 relays each, every 30 s: 640 of 970 B/s of liveness per agent in a
 * 20-agent mesh); it stays, rarely, for readers that predate the request.
 */
export const MAX_DIGEST_BYTES = 1024 * 1024;
/** Beyond this many peers a digest carries a sample; relays by other neighbours cover the rest. */
export const MAX_DIGEST_ENTRIES = 4096;
/** Slots one stream can name; a writer that would need more starts over, and tells the reader to. */
export const MAX_SLOTS = 2 * MAX_DIGEST_ENTRIES;
const REFRESH_EVERY = 300;
export const MAX_ADDRESSES = 8;
const MAX_ADDRESS_LENGTH = 200;
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{32,64}$/;

/** A peer and its newest beat, as the agent holds and hears them. */
export interface DigestEntry {
  peerId: string;
  /** When that run of the agent started: a new value means the peer restarted. */
  incarnation: number;
  beat: number;
  /** Present when the frame describes the peer (first time on this stream, changed, or refresh). */
  name?: string;
  addresses?: string[];
}

export type DescribedPeer = Required<DigestEntry>;

export interface SlotDescription {
  slot: number;
  peerId: string;
  incarnation: number;
  name: string;
  addresses: string[];
}

export interface DigestFrame {
  /** The reader forgets every slot before reading this frame: the writer started over. */
  reset: boolean;
  /** The sender asks the reader for every peer's beats each interval. Absent on the wire means yes (older agents). */
  relay: boolean;
  /** The frame carries the sender's own beat alone, not every peer it hears. */
  ownOnly: boolean;
  /** The sender lost descriptions the reader sent it on the other stream of the link: describe every peer again. */
  describeAgain?: boolean;
  described: SlotDescription[];
  /** beats[slot]: that peer's newest beat; null where the frame says nothing of a slot. */
  beats: (number | null)[];
}

/**
 * `{ v: 1, r?: 1, w?: 0, o?: 1, a?: 1, d: [[slot, peerId, incarnation, name, addresses], ...], b: [beat | null, ...] }`:
 * r reset, w 0 "do not relay to me", o own beat only, a "describe every peer again" (older readers ignore it).
 */
export function encodeDigest(frame: DigestFrame): Uint8Array {
  const d = frame.described.map((x) => [
    x.slot,
    x.peerId,
    x.incarnation,
    x.name,
    x.addresses.slice(0, MAX_ADDRESSES),
  ]);
  const bytes = new TextEncoder().encode(
    JSON.stringify({
      v: 1,
      ...(frame.reset ? { r: 1 } : {}),
      ...(frame.relay ? {} : { w: 0 }),
      ...(frame.ownOnly ? { o: 1 } : {}),
      ...(frame.describeAgain ? { a: 1 } : {}),
      d,
      b: frame.beats,
    }),
  );
  if (bytes.length > MAX_DIGEST_BYTES) throw new Error(`digest of ${bytes.length} bytes exceeds the limit`);
  return bytes;
}

export function decodeDigest(bytes: Uint8Array): Result<DigestFrame> {
  if (bytes.length > MAX_DIGEST_BYTES) return { ok: false, error: `too large: ${bytes.length} bytes` };
  let raw: unknown;
  try {
    raw = parseJson(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return { ok: false, error: 'not UTF-8 JSON' };
  }
  if (typeof raw !== 'object' || raw === null) return { ok: false, error: 'not an object' };
  const { v, r, w, o, a, d, b } = raw as Record<string, unknown>;
  // Never String(v): a peer's object can carry a `toString` that is not a function, and String() then throws.
  if (v !== 1) return { ok: false, error: `unknown version ${typeof v === 'number' ? v : typeof v}` };
  if (r !== undefined && r !== 1) return { ok: false, error: 'bad reset flag' };
  if (w !== undefined && w !== 0 && w !== 1) return { ok: false, error: 'bad relay flag' };
  if (o !== undefined && o !== 1) return { ok: false, error: 'bad own-beat flag' };
  if (a !== undefined && a !== 1) return { ok: false, error: 'bad describe-again flag' };
  if (!Array.isArray(d) || d.length > MAX_DIGEST_ENTRIES) return { ok: false, error: 'bad description list' };
  if (!Array.isArray(b) || b.length > MAX_SLOTS) return { ok: false, error: 'bad beat list' };
  if (!b.every((x) => x === null || isCount(x))) return { ok: false, error: 'bad beat' };
  const described: SlotDescription[] = [];
  for (const item of d) {
    const description = decodeDescription(item);
    if (typeof description === 'string') return { ok: false, error: description };
    described.push(description);
  }
  return {
    ok: true,
    value: {
      reset: r === 1,
      relay: w !== 0,
      ownOnly: o === 1,
      describeAgain: a === 1,
      described,
      beats: b as (number | null)[],
    },
  };
}

export function decodeDescription(item: unknown): SlotDescription | string {
  if (!Array.isArray(item) || item.length !== 5) return 'bad description';
  const [slot, peerId, incarnation, name, addresses] = item as unknown[];
  if (!isCount(slot) || slot >= MAX_SLOTS) return 'bad slot';
  if (typeof peerId !== 'string' || !PEER_ID.test(peerId)) return 'bad peer id';
  if (!isCount(incarnation)) return 'bad incarnation';
  if (typeof name !== 'string' || name.length === 0 || name.length > 63) return 'bad name';
  if (
    !Array.isArray(addresses) ||
    addresses.length > MAX_ADDRESSES ||
    !addresses.every((a) => typeof a === 'string' && a.length <= MAX_ADDRESS_LENGTH && a.startsWith('/'))
  )
    return 'bad addresses';
  return { slot, peerId, incarnation, name, addresses: addresses as string[] };
}

function isCount(x: unknown): x is number {
  return Number.isSafeInteger(x) && (x as number) >= 0;
}

/** One stream's sending side: which slot names which peer, and what the reader was told of each. */
export class DigestWriter {
  /** Per peer: its slot and what the reader was last told of it (undefined until described). */
  readonly #slots = new Map<string, { slot: number; told?: Omit<SlotDescription, 'slot'> }>();
  #frames = 0;
  /** The reader asked to have every peer described again; cleared by the next frame of every peer. */
  #describeAll = false;

  /** The reader lost descriptions: the next frame describes every peer it carries again. */
  describeAgain(): void {
    this.#describeAll = true;
  }

  /** The next frame for `peers` (at most MAX_DIGEST_ENTRIES); `relay`: the reader is asked to relay to this side. */
  next(peers: readonly DescribedPeer[], relay = true): DigestFrame {
    const periodic = this.#frames++ % REFRESH_EVERY === REFRESH_EVERY - 1;
    const refresh = periodic || this.#describeAll;
    this.#describeAll = false;
    const newcomers = peers.filter((p) => !this.#slots.has(p.peerId)).length;
    // Slots of peers that left stay as nulls in every frame; past a point starting over is cheaper.
    const stale = this.#slots.size - (peers.length - newcomers);
    const reset = this.#slots.size + newcomers > MAX_SLOTS || stale > Math.max(64, peers.length);
    if (reset) this.#slots.clear();
    const described: SlotDescription[] = [];
    const beats: (number | null)[] = new Array(this.#slots.size + (reset ? peers.length : newcomers)).fill(
      null,
    );
    for (const p of peers) {
      let held = this.#slots.get(p.peerId);
      if (!held) {
        held = { slot: this.#slots.size };
        this.#slots.set(p.peerId, held);
      }
      // Compared field by field: this runs for every peer, every neighbour, every interval.
      if (refresh || !held.told || !sameDescription(held.told, p)) {
        held.told = describe(p);
        described.push({ slot: held.slot, ...held.told });
      }
      beats[held.slot] = p.beat;
    }
    while (beats.length > 0 && beats.at(-1) === null) beats.pop();
    return { reset, relay, ownOnly: false, described, beats };
  }

  /**
   * A frame with this agent's own beat alone: the slots of the other peers stay as they are, so the next full
   * frame on the stream is as small as ever.
   */
  own(self: DescribedPeer, relay: boolean): DigestFrame {
    let held = this.#slots.get(self.peerId);
    if (!held) {
      if (this.#slots.size >= MAX_SLOTS) return { ...this.next([self], relay), ownOnly: true };
      held = { slot: this.#slots.size };
      this.#slots.set(self.peerId, held);
    }
    const described: SlotDescription[] = [];
    // The request stays for the next frame of every peer: this one carries only the sender's own slot.
    if (this.#describeAll || !held.told || !sameDescription(held.told, self)) {
      held.told = describe(self);
      described.push({ slot: held.slot, ...held.told });
    }
    const beats: (number | null)[] = new Array(held.slot + 1).fill(null);
    beats[held.slot] = self.beat;
    return { reset: false, relay, ownOnly: true, described, beats };
  }
}

function sameDescription(told: Omit<SlotDescription, 'slot'>, p: DescribedPeer): boolean {
  return (
    told.incarnation === p.incarnation &&
    told.name === p.name &&
    told.addresses.length === p.addresses.length &&
    told.addresses.every((a, i) => a === p.addresses[i])
  );
}

function describe(p: DescribedPeer): Omit<SlotDescription, 'slot'> {
  return { peerId: p.peerId, incarnation: p.incarnation, name: p.name, addresses: p.addresses };
}

/** One stream's receiving side: the slots its writer described, to resolve the beats of later frames. */
export class DigestReader {
  readonly #slots = new Map<number, { peerId: string; incarnation: number }>();
  #missing = false;

  /** Whether a frame since the last call carried a beat in a slot never described: the writer should describe
   * every peer again. Asking clears it. */
  takeMissing(): boolean {
    const missing = this.#missing;
    this.#missing = false;
    return missing;
  }

  /** The peers a frame speaks of; a beat in a slot never described (its description skipped) is passed over. */
  read(frame: DigestFrame): DigestEntry[] {
    if (frame.reset) this.#slots.clear();
    const entries: DigestEntry[] = [];
    const describedNow = new Set<number>();
    for (const d of frame.described) {
      this.#slots.set(d.slot, { peerId: d.peerId, incarnation: d.incarnation });
      const beat = frame.beats[d.slot];
      if (beat === null || beat === undefined || describedNow.has(d.slot)) continue;
      describedNow.add(d.slot);
      entries.push({
        peerId: d.peerId,
        incarnation: d.incarnation,
        beat,
        name: d.name,
        addresses: d.addresses,
      });
    }
    frame.beats.forEach((beat, slot) => {
      const known = beat === null || describedNow.has(slot) ? undefined : this.#slots.get(slot);
      if (beat !== null && !describedNow.has(slot) && !known) this.#missing = true;
      if (known) entries.push({ peerId: known.peerId, incarnation: known.incarnation, beat: beat as number });
    });
    return entries;
  }
}
