import { randomBytes } from 'node:crypto';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Connection } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { MAX_SYNC_FRAME } from '../../src/crdt/sync-codec.js';
import { CONTROL_PROTOCOL, MAX_FRAME_BYTES } from '../../src/node/api/control-protocol.js';
import { MAX_DIGEST_BYTES } from '../../src/node/liveness/liveness-digest.js';
import { LIVENESS_PROTOCOL, LIVENESS_PROTOCOL_V2 } from '../../src/node/liveness/liveness-exchange.js';
import {
  ALLOC_EVENTS_PROTOCOL,
  MAX_EVENTS_REQUEST_BYTES,
} from '../../src/node/logs/alloc-events-protocol.js';
import { MAX_EXEC_FRAME } from '../../src/node/logs/alloc-exec-frames.js';
import { ALLOC_EXEC_PROTOCOL } from '../../src/node/logs/alloc-exec-protocol.js';
import { MAX_LOG_REQUEST } from '../../src/node/logs/alloc-logs-frames.js';
import { ALLOC_LOGS_PROTOCOL } from '../../src/node/logs/alloc-logs-protocol.js';
import { createHost, type MeshHost } from '../../src/node/net/libp2p-host.js';
import { PEER_EXCHANGE_PROTOCOL } from '../../src/node/net/peer-exchange.js';
import { STATE_SYNC_PROTOCOL } from '../../src/node/state/state-sync-protocol.js';
import { MAX_REQUEST_BYTES, OCI_PROTOCOL } from '../../src/registry-p2p/oci-protocol.js';
import { beat, filler, prefix, pump, sleep, type Watched, watch } from './hostile-support.js';

/**
 * Every protocol meshd registers with `handle()` (gossipsub, identify and ping are libp2p's own), with the
 * deadlines the hostile-input suite holds each to, as the agent in that suite is configured (the suite checks
 * the agent advertises no other).
 */
export interface HostileTarget {
  readonly name: string;
  readonly protocol: string;
  /** A stream that withholds the end of a frame, or sends nothing, ends within this. */
  readonly idleMs: number;
  /** A stream that trickles a byte at a time ends within this: a deadline on the whole request (or session). */
  readonly requestMs: number;
  /** The largest frame the handler reads (0: it reads nothing): the idle test withholds the last byte of one. */
  readonly maxFrame: number;
  /** Streams of one burst of 100 still open after 1.5 s at most: the handler's inbound limit per connection. */
  readonly maxOpen: number;
}

export const PROTOCOLS: readonly HostileTarget[] = [
  // progressTimeoutMs 5 s; a trickle runs into the 30 s session deadline.
  {
    name: 'state-sync',
    protocol: STATE_SYNC_PROTOCOL,
    idleMs: 5_000,
    requestMs: 30_000,
    maxOpen: 2,
    maxFrame: MAX_SYNC_FRAME,
  },
  // idleMs is 3 × lost-after (3 s here), for a silent stream and, since each whole frame must arrive within it,
  // for a trickled one too.
  {
    name: 'liveness',
    protocol: LIVENESS_PROTOCOL,
    idleMs: 9_000,
    requestMs: 9_000,
    maxOpen: 2,
    maxFrame: MAX_DIGEST_BYTES,
  },
  // The same digests in varints, and the same deadlines.
  {
    name: 'liveness-binary',
    protocol: LIVENESS_PROTOCOL_V2,
    idleMs: 9_000,
    requestMs: 9_000,
    maxOpen: 2,
    maxFrame: MAX_DIGEST_BYTES,
  },
  // Answers without reading: whatever the asker sends, the stream ends at once.
  {
    name: 'peer-exchange',
    protocol: PEER_EXCHANGE_PROTOCOL,
    idleMs: 2_000,
    requestMs: 2_000,
    maxOpen: 4,
    maxFrame: 0,
  },
  // The request deadline (requestTimeoutMs 10 s) covers the whole request frame.
  {
    name: 'oci',
    protocol: OCI_PROTOCOL,
    idleMs: 10_000,
    requestMs: 10_000,
    maxOpen: 8 + 64,
    maxFrame: MAX_REQUEST_BYTES,
  },
  // requestTimeoutMs 5 s for the request frame.
  {
    name: 'alloc-logs',
    protocol: ALLOC_LOGS_PROTOCOL,
    idleMs: 5_000,
    requestMs: 5_000,
    maxOpen: 5,
    maxFrame: MAX_LOG_REQUEST,
  },
  // requestTimeoutMs 10 s for the request frame; four sessions per peer, one more to be refused.
  {
    name: 'alloc-exec',
    protocol: ALLOC_EXEC_PROTOCOL,
    idleMs: 10_000,
    requestMs: 10_000,
    maxOpen: 5,
    maxFrame: MAX_EXEC_FRAME,
  },
  // One 3 s deadline for the whole exchange.
  {
    name: 'alloc-events',
    protocol: ALLOC_EVENTS_PROTOCOL,
    idleMs: 3_000,
    requestMs: 3_000,
    maxOpen: 4,
    maxFrame: MAX_EVENTS_REQUEST_BYTES,
  },
  // One 30 s deadline for the whole exchange.
  {
    name: 'control',
    protocol: CONTROL_PROTOCOL,
    idleMs: 30_000,
    requestMs: 30_000,
    maxOpen: 4,
    maxFrame: MAX_FRAME_BYTES,
  },
];

/** Protocols libp2p itself serves on the agent (identify and ping under the mesh's prefix, gossipsub). */
export const LIBP2P_OWN =
  /^\/(meshsub|floodsub)\/|^\/mycel\/(id|ping|autonat)\/|^\/libp2p\/(circuit\/relay\/0\.2\.0\/(hop|stop)|dcutr)$/;

/**
 * A peer holding the mesh key (a stolen device), with this project's own stack, beating like a member: the
 * agent closes a link that carries no beats after the lost period, which would cut the deadlines under test.
 */
export async function joinHostile(agentAddress: string, psk: Uint8Array): Promise<HostilePeer> {
  const host = await createHost({
    privateKey: await generateKeyPair('Ed25519'),
    // Not listening: the agent cannot dial back, so this one connection is all there is to the agent.
    listen: [],
    maxConnections: 8,
    pingIntervalMs: 60_000,
    psk,
  });
  const conn = await host.dial(multiaddr(agentAddress));
  const quiet = beat(conn, host.peerId.toString());
  return {
    host,
    conn,
    async stop() {
      quiet();
      await host.stop();
    },
  };
}

export interface HostilePeer {
  readonly host: MeshHost;
  readonly conn: Connection;
  stop(): Promise<void>;
}

export async function open(conn: Connection, protocol: string): Promise<Watched> {
  return watch(
    await conn.newStream(protocol, { maxOutboundStreams: 1_000, signal: AbortSignal.timeout(5_000) }),
  );
}

export const since = (w: Watched | undefined) =>
  w?.endedAt === undefined ? ('open' as const) : w.endedAt - w.opened;

export const STALLS = ['withheld', 'silent', 'trickled'] as const;
export type StallKind = (typeof STALLS)[number];
export interface Stalled {
  readonly p: HostileTarget;
  readonly kind: StallKind;
  /** The deadline the agent must end it by. */
  readonly ms: number;
  readonly w: Watched;
}

export interface Stalls {
  readonly peers: HostilePeer[];
  readonly stalled: Stalled[];
}

export function deadline(p: HostileTarget, kind: StallKind): number {
  return kind === 'trickled' ? p.requestMs : p.idleMs;
}

/**
 * withheld: the largest frame the handler takes but for its last byte, the most it buffers per stream (what the
 * memory bound covers); silent: nothing at all; trickled: a byte every 250 ms, which restarts any no-progress
 * timer, so only a deadline on the whole request ends it.
 */
export async function stallStream(
  conn: Connection,
  p: HostileTarget,
  kind: StallKind,
  signal: AbortSignal,
): Promise<Watched> {
  const w = await open(conn, p.protocol);
  if (kind === 'withheld') {
    const most = Math.max(p.maxFrame, 1_000);
    void pump(w, [prefix(most), ...filler(most - 1)], signal);
  } else if (kind === 'trickled') {
    void (async () => {
      // Announced within the handler's limit, or it would refuse the prefix at once.
      await pump(w, [prefix(Math.min(4_000, p.maxFrame || 4_000))], signal);
      for (let i = 0; i < 160 && !signal.aborted; i++) {
        await sleep(250);
        if ((await pump(w, [randomBytes(1)], signal)) === 0) return;
      }
    })();
  }
  return w;
}
