import type { Digest } from './digest.js';
import type { PeerClient } from './peer-client.js';
import { rendezvousWeight } from './rendezvous.js';

/** Neighbours asked in turn to fetch a digest through them, of those that said they reach a holder. */
const MAX_THROUGH_TRIES = 3;

/**
 * Linked neighbours (not in `skip`) that hold `digest` or are directly linked to a peer holding all of it: the way
 * to a holder this agent has no direct link to, such as a device at another site behind NAT, whose only link to
 * this one is a reachable member between them. Highest rank for the digest first, so a site's agents pick the same
 * neighbour, which fetches the digest once and serves them all.
 */
export async function throughNeighbours(
  peers: Pick<PeerClient, 'connectedPeers' | 'reach'>,
  digest: Digest,
  skip: (peer: string) => boolean,
): Promise<string[]> {
  const candidates = peers.connectedPeers().filter((p) => !skip(p));
  const reach = await Promise.all(candidates.map((peer) => peers.reach(peer, digest).catch(() => false)));
  return candidates
    .filter((_, i) => reach[i])
    .sort((a, b) => (rendezvousWeight(digest, a) > rendezvousWeight(digest, b) ? -1 : 1))
    .slice(0, MAX_THROUGH_TRIES);
}
