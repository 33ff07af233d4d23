import type { PeerLiveness } from './placement-input.js';

export interface PlacementLivenessInput {
  /** What this agent's liveness view says of the peers it has heard since it started. */
  readonly heard: readonly PeerLiveness[];
  /** Peer ids with a node record in the replicated state. */
  readonly recorded: readonly string[];
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
 */
export function placementLiveness(input: PlacementLivenessInput): PeerLiveness[] {
  const { heard, recorded, self, startedAt, now, lostAfterMs } = input;
  const status = now - startedAt >= lostAfterMs ? ('lost' as const) : ('suspect' as const);
  const known = new Set(heard.map((p) => p.peerId));
  const unheard = recorded
    .filter((peerId) => peerId !== self && !known.has(peerId))
    .map((peerId) => ({ peerId, status, lastSeen: startedAt }));
  return [...heard, ...unheard];
}
