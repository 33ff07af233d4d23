import type { MeshState } from '../../src/crdt/mesh-state.js';
import type { PeerSyncStates } from '../../src/crdt/peer-sync-states.js';
import type { SyncSession } from '../../src/crdt/sync-engine.js';

/** What the scale simulator's event loop (simulator.ts) moves around, and what it counts. */
export type Via = 'mesh' | 'lazy' | 'sync' | 'origin';
export const BYTE_KINDS = ['publish', 'ihave', 'iwant', 'idontwant', 'sync'] as const;
export type ByteKind = (typeof BYTE_KINDS)[number];

/** One gossipsub message: payload bytes are shared, as every receiver gets the same bytes. */
export interface Message {
  readonly publisher: number;
  readonly data: Uint8Array;
  readonly wire: number;
}

export interface Replica {
  readonly state: MeshState;
  readonly peerStates: PeerSyncStates;
  readonly seen: Set<number>;
  /** Message ids by the heartbeat they entered the cache at (gossipsub's mcache). */
  readonly mcache: { id: number; hb: number }[];
  /** Per message id, the mesh peers that said IDONTWANT. */
  readonly dontWant: Map<number, Set<number>>;
  hb: number;
  uplinkFreeAt: number;
}

export interface Session {
  readonly dialer: number;
  readonly listener: number;
  readonly sides: [SyncSession, SyncSession | undefined];
  readonly pair: number;
}

export type Event =
  | { readonly k: 'rpc'; readonly to: number; readonly from: number; readonly msg: number; readonly via: Via }
  | {
      readonly k: 'validated';
      readonly node: number;
      readonly from: number;
      readonly msg: number;
      readonly via: Via;
    }
  | { readonly k: 'ihave'; readonly to: number; readonly from: number; readonly ids: readonly number[] }
  | { readonly k: 'iwant'; readonly to: number; readonly from: number; readonly ids: readonly number[] }
  | { readonly k: 'idontwant'; readonly to: number; readonly from: number; readonly msg: number }
  | { readonly k: 'heartbeat'; readonly node: number }
  | { readonly k: 'anti-entropy'; readonly node: number }
  | { readonly k: 'frame'; readonly session: Session; readonly toDialer: boolean; readonly frame: Uint8Array }
  | { readonly k: 'submit'; readonly change: number };

export interface ChangeTrace {
  readonly atMs: number;
  readonly submitter: number;
  readonly version: number;
  specHash: string;
  gossipBytes: number;
  /** Per node: simulated ms at which its replica first held this change, -1 never. */
  readonly reachedAt: Float64Array;
  reached: number;
  readonly via: Record<Via, number>;
}

export interface Counters {
  events: number;
  gossipPublished: number;
  rpcDelivered: number;
  duplicateRpcs: number;
  lostRpcs: number;
  iwantServed: number;
  syncSessions: number;
  syncSessionsEqual: number;
  syncFrames: number;
  syncRetransmits: number;
  syncErrors: number;
  oversizeGossip: number;
  rejectedGossip: number;
}
