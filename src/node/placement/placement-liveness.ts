import type { PeerLiveness } from './placement-input.js';

export interface PlacementLivenessInput {
  /** What this agent's liveness view says of the peers it has heard since it started. */
  readonly heard: readonly PeerLiveness[];
  /** Peer ids with a node record in the replicated state. */
  readonly recorded: readonly string[];
  /** Peer ids whose node record says they began a clean stop (`leaving`). */
  readonly leaving?: readonly string[];
  readonly self: string;
  readonly startedAt: number;
  readonly now: number;
  readonly lostAfterMs: number;
}

/**
 * Liveness as placement sees it. A recorded node this agent has not heard since it started may well have been
 * heard just before (the agent restarted): for one lost-period after start it counts as suspect (keeps its work,
 * gets no new work), so a freshly booted agent does not take everyone's work; after that it is lost, last seen at
 * our start, so a job's `disconnect.lostAfter` runs from there and a slow restart does not replace copies whose
 * nodes were never gone.
 *
 * A node whose own record says it is leaving is lost at once, whatever its last beats said, and lost since
 * ever (lastSeen 0), so every job's `disconnect.lostAfter` has already run out: a clean stop is a promise that no
 * beat follows. Its next start writes its record without the mark, and it counts by its beats again.
 */
export function placementLiveness(input: PlacementLivenessInput): PeerLiveness[] {
  const { heard, recorded, self, startedAt, now, lostAfterMs } = input;
  const leaving = new Set((input.leaving ?? []).filter((peerId) => peerId !== self));
  const status = now - startedAt >= lostAfterMs ? ('lost' as const) : ('suspect' as const);
  const known = new Set(heard.map((p) => p.peerId));
  const unheard = recorded
    .filter((peerId) => peerId !== self && !known.has(peerId))
    .map((peerId) => ({ peerId, status, lastSeen: startedAt }));
  const gone = [...leaving].sort().map((peerId) => ({ peerId, status: 'lost' as const, lastSeen: 0 }));
  return [
    ...heard.filter((p) => !leaving.has(p.peerId)),
    ...unheard.filter((p) => !leaving.has(p.peerId)),
    ...gone,
  ];
}

export interface PlacementLivenessSource {
  readonly self: string;
  readonly startedAt: number;
  readonly lostAfterMs: number;
  now(): number;
  /** The liveness view's entries at `now`. */
  heard(now: number): readonly PeerLiveness[];
  /** Node records in the replicated state. */
  nodes(): readonly { readonly peerId: string; readonly leaving?: number | undefined }[];
}

/** Placement's liveness reader over the live view and the replicated node records. */
export function placementLivenessReader(source: PlacementLivenessSource): () => PeerLiveness[] {
  return () => {
    const now = source.now();
    const nodes = source.nodes();
    return placementLiveness({
      heard: source.heard(now).map(({ peerId, status, lastSeen }) => ({ peerId, status, lastSeen })),
      recorded: nodes.map((n) => n.peerId),
      leaving: nodes.flatMap((n) => (n.leaving === undefined ? [] : [n.peerId])),
      self: source.self,
      startedAt: source.startedAt,
      now,
      lostAfterMs: source.lostAfterMs,
    });
  };
}
