import {
  type DescribedPeer,
  DigestWriter,
  encodeDigest,
  MAX_DIGEST_ENTRIES,
} from '../../src/node/liveness/liveness-digest.js';
import { RELAYS_WANTED } from '../../src/node/liveness/liveness-relays.js';
import { EventQueue } from './event-queue.js';
import { peerIdOf } from './fleet.js';
import { messageDelay } from './latency.js';
import type { Prng } from './prng.js';
import { linkKey, type Topology } from './topology.js';

/**
 * meshd's liveness digests on the same overlay: every node asks RELAYS_WANTED of its connections, at random, to
 * relay to it (liveness-relays.ts); every node, at its own phase every `intervalMs`, sends its digest to the
 * connections that asked it, and its own beat alone to the others; a digest carries the newest beat the sender
 * holds of every node. Relay choices stay fixed (the mesh is stable and nothing is cut for good here, so a relay
 * that stops delivering is not modelled). One node's beats are traced (every
 * node's travel the same way), so a run costs nodes × rounds × fanout events, not N².
 *
 * Reported: how long a beat takes to reach 99 % and 100 % of the fleet (the delay before a crash can be noticed
 * beyond the lost period), the longest any node went without that node's beat advancing once the fleet was
 * warm (a silence of `suspectAfterMs` would make an alive node look suspect), and the bytes: digest frames are
 * sized by the real encoder (`DigestWriter`), in steady state (every node described once per stream).
 */
export interface LivenessModelOptions {
  readonly nodes: number;
  readonly intervalMs: number;
  readonly suspectAfterMs: number;
  readonly durationMs: number;
  /** Digests lost per transmission (the stream would retransmit; this is the pessimistic reading). */
  readonly loss: number;
  readonly uplinkMbps: number;
}

export interface LivenessModelReport {
  readonly digestBytes: {
    readonly steady: number;
    readonly firstOnAStream: number;
    readonly ownBeat: number;
  };
  /** Digests of every peer, then frames with the sender's own beat alone. */
  readonly digestsSentPerNodePerSecond: number;
  readonly ownBeatsSentPerNodePerSecond: number;
  readonly bytesSentPerNodePerSecond: number;
  /** From a beat leaving the traced node to 99 % / 100 % of nodes holding it (or a newer one): median and max. */
  readonly beatReach99Ms: { readonly median: number | null; readonly max: number | null };
  readonly beatReach100Ms: { readonly median: number | null; readonly max: number | null };
  readonly maxSilenceMs: number;
  /** Nodes that went `suspectAfterMs` without the traced node's beat advancing: would have suspected it. */
  readonly nodesFalselySuspecting: number;
}

type Event = { k: 'round'; node: number } | { k: 'digest'; to: number; beat: number };

export function modelLiveness(
  o: LivenessModelOptions,
  topology: Topology,
  linkBase: (key: number) => number,
  random: Prng,
): LivenessModelReport {
  const { nodes, intervalMs } = o;
  const traced = random.int(nodes);
  const held = new Float64Array(nodes).fill(-1);
  const advancedAt = new Float64Array(nodes).fill(Number.NaN);
  const uplinkFreeAt = new Float64Array(nodes);
  /** reachedAt[beat]: when each node first held that beat or a newer one. */
  const reachedAt: number[][] = [];
  const bytes = digestSizes(Math.min(nodes, MAX_DIGEST_ENTRIES));
  const sendMs = (bytes.steady * 8) / (o.uplinkMbps * 1000);
  const ownMs = (bytes.ownBeat * 8) / (o.uplinkMbps * 1000);
  const carried = Math.min(1, MAX_DIGEST_ENTRIES / nodes);
  // Statistics start once every node holds some beat and two more periods have passed.
  let warmFrom = Number.POSITIVE_INFINITY;
  let holding = 0;
  let maxSilence = 0;
  const suspecting = new Set<number>();
  let sent = 0;
  let ownSent = 0;
  // askedBy[i]: the nodes that asked i to relay to them.
  const askedBy: Set<number>[] = Array.from({ length: nodes }, () => new Set());
  for (let j = 0; j < nodes; j++)
    for (const i of random.sample([...topology.connections[j]!], RELAYS_WANTED)) askedBy[i]!.add(j);

  const queue = new EventQueue<Event>();
  for (let i = 0; i < nodes; i++) queue.push(random.next() * intervalMs, { k: 'round', node: i });

  const hold = (node: number, beat: number, at: number) => {
    if (beat <= held[node]!) return;
    if (held[node]! < 0 && ++holding === nodes) warmFrom = at + 2 * intervalMs;
    if (at >= warmFrom) {
      const silence = at - advancedAt[node]!;
      maxSilence = Math.max(maxSilence, silence);
      if (silence >= o.suspectAfterMs) suspecting.add(node);
    }
    for (let b = Math.max(0, held[node]! + 1); b <= beat; b++) {
      const arrivals = reachedAt[b] ?? [];
      arrivals.push(at);
      reachedAt[b] = arrivals;
    }
    held[node] = beat;
    advancedAt[node] = at;
  };

  for (;;) {
    const next = queue.pop();
    if (next === undefined || next.at > o.durationMs) break;
    const { at, event } = next;
    if (event.k === 'digest') {
      hold(event.to, event.beat, at);
      continue;
    }
    const i = event.node;
    if (i === traced) hold(i, held[i]! + 1, at);
    for (const j of topology.connections[i]!) {
      const full = askedBy[i]!.has(j);
      if (full) sent++;
      else ownSent++;
      const start = Math.max(at, uplinkFreeAt[i]!);
      uplinkFreeAt[i] = start + (full ? sendMs : ownMs);
      // Past MAX_DIGEST_ENTRIES a digest carries a random sample of the peers (liveness-exchange.ts); an own-beat
      // frame says something of the traced node only when it is the sender.
      if (!full && i !== traced) continue;
      if (held[i]! < 0 || random.chance(o.loss) || (full && carried < 1 && !random.chance(carried))) continue;
      const arrive = uplinkFreeAt[i]! + messageDelay(linkBase(linkKey(i, j, nodes)), random);
      queue.push(arrive, { k: 'digest', to: j, beat: held[i]! });
    }
    queue.push(at + intervalMs, event);
  }

  const seconds = o.durationMs / 1000;
  const reach = (fraction: number) => {
    const times: number[] = [];
    reachedAt.forEach((arrivals, beat) => {
      const needed = Math.ceil(fraction * nodes);
      if (arrivals.length < needed) return;
      // Beat b left the traced node at its b-th round: the first arrival is the traced node itself.
      const sorted = [...arrivals].sort((a, b) => a - b);
      if (beat > 0) times.push(sorted[needed - 1]! - sorted[0]!);
    });
    times.sort((a, b) => a - b);
    const round = (n: number | undefined) => (n === undefined ? null : Math.round(n));
    return { median: round(times[Math.floor(times.length / 2)]), max: round(times.at(-1)) };
  };
  return {
    digestBytes: bytes,
    digestsSentPerNodePerSecond: Math.round((sent / nodes / seconds) * 100) / 100,
    ownBeatsSentPerNodePerSecond: Math.round((ownSent / nodes / seconds) * 100) / 100,
    bytesSentPerNodePerSecond: Math.round(
      (sent / nodes / seconds) * bytes.steady + (ownSent / nodes / seconds) * bytes.ownBeat,
    ),
    beatReach99Ms: reach(0.99),
    beatReach100Ms: reach(1),
    maxSilenceMs: Math.round(maxSilence),
    nodesFalselySuspecting: suspecting.size,
  };
}

/**
 * The first frame on a stream (every node described), a steady one (beats only), and an own-beat frame, for
 * `count` nodes.
 */
function digestSizes(count: number): { steady: number; firstOnAStream: number; ownBeat: number } {
  const incarnation = 1_700_000_000_000;
  const peers = (beat: number): DescribedPeer[] =>
    Array.from({ length: count }, (_, i) => ({
      peerId: peerIdOf(i),
      incarnation,
      // A day of 2 s beats: beat numbers have the digits of a long-running fleet.
      beat: 43_200 + beat,
      name: `edge-${i}`,
      addresses: [`/ip4/10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/tcp/4001`],
    }));
  const writer = new DigestWriter();
  const firstOnAStream = encodeDigest(writer.next(peers(0))).length;
  const steady = encodeDigest(writer.next(peers(1), false)).length;
  const ownBeat = encodeDigest(writer.own(peers(2)[0]!, false)).length;
  return { steady, firstOnAStream, ownBeat };
}
