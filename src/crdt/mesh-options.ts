/** How a MeshState is set up: who it is, how it signs, whom it trusts. */
import { sha256Hex } from '../lib/digest.js';
import type { Sign } from './signature.js';

export interface MeshStateOptions {
  /** This agent's peer id: the only writer of `node/<self>`. */
  readonly self: string;
  /** Automerge actor id for this process lifetime (`actorFor`); never reused across restarts. */
  readonly actor: string;
  /** A document a local write leaves with more changes than this is rewritten fresh at the next epoch. */
  readonly compactAfterChanges?: number;
  /**
   * Signs with this node's identity key (the one `self` names). Given, this node signs its own records and
   * every node's records count only with their owner's signature (owned records).
   */
  readonly sign?: Sign;
  /**
   * The mesh's initial operator keys (peer-id form). Given, the mesh is closed: job events count only when a
   * trusted operator signed them, and the trust document (operators added or removed, devices revoked) applies.
   * Absent, the mesh is open (development): unsigned jobs run and nothing can be revoked.
   */
  readonly operators?: readonly string[];
}

/**
 * A fresh actor per process lifetime: after a crash that lost unflushed changes, reusing the old actor would
 * reissue sequence numbers peers already hold with different content.
 */
export function actorFor(peerId: string, sessionSeed: Uint8Array): string {
  return sha256Hex(Buffer.concat([Buffer.from(`${peerId}\0`), sessionSeed]), 32);
}
