import { sha256Hex } from '../lib/digest.js';

/**
 * The peer that fetches `digest` upstream for everyone: highest-random-weight hashing over the candidates. Agents
 * that see the same candidates (a site's fully linked agents) pick the same one without talking, so N agents
 * pulling a new image at once send one upstream request per blob; different blobs spread over different peers.
 */
export function rendezvousOwner(digest: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = '';
  for (const peer of candidates) {
    const weight = rendezvousWeight(digest, peer);
    if (best === undefined || weight > bestWeight) {
      best = peer;
      bestWeight = weight;
    }
  }
  return best;
}

/** A peer's rank for `digest`; comparing two strings compares ranks. */
export function rendezvousWeight(digest: string, peer: string): string {
  return sha256Hex(`${digest}\0${peer}`);
}
