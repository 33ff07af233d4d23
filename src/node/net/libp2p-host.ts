import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { autoNAT } from '@libp2p/autonat';
import {
  type CircuitRelayService,
  circuitRelayServer,
  circuitRelayTransport,
} from '@libp2p/circuit-relay-v2';
import { dcutr } from '@libp2p/dcutr';
import { identify } from '@libp2p/identify';
import type { ConnectionGater, Libp2p, PrivateKey, Transport } from '@libp2p/interface';
import { ping } from '@libp2p/ping';
import { preSharedKey } from '@libp2p/pnet';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import { explainListenFailure } from '../../lib/startup-error.js';
import { pnetKey } from '../membership/join-token.js';
import { keepGossipStreams } from './gossip-streams.js';
import { boundPnetCipher } from './pnet-cipher.js';
import { PROTOCOL_PREFIX } from './protocol-prefix.js';
import { createPubsub, type GossipSub } from './pubsub.js';
import { RELAY_LIMITS, type RelayMode, relayListenAddresses } from './relay-options.js';
import type { WireBytes } from './wire-bytes.js';

/** Connections libp2p admits past `maxConnections`, for a full agent to introduce newcomers (introductions.ts). */
export const INTRODUCTION_SLOTS = 8;

/** The most a stream's sender may have in flight to a reader that stopped reading. */
export const STREAM_WINDOW_BYTES = 1024 * 1024;

export type MeshServices = {
  identify: ReturnType<ReturnType<typeof identify>>;
  ping: ReturnType<ReturnType<typeof ping>>;
  pubsub: GossipSub;
  autonat: unknown;
  dcutr: unknown;
  /** Present on an agent started with `--relay server`. */
  relay?: CircuitRelayService;
};
export type MeshHost = Libp2p<MeshServices>;

export interface HostOptions {
  privateKey: PrivateKey;
  listen: string[];
  /** Links the agent keeps; libp2p admits `INTRODUCTION_SLOTS` more, which `Introductions` closes again. */
  maxConnections: number;
  /** How often connected peers are pinged; the round-trip time shows in `meshctl peers`. */
  pingIntervalMs: number;
  /** The simulator wraps the transport and gates connections to inject faults; agents use plain TCP. */
  transport?: (components: Parameters<ReturnType<typeof tcp>>[0]) => Transport;
  connectionGater?: ConnectionGater;
  /** A closed mesh's pre-shared key: every connection is encrypted with it before Noise, so a device without it
   * cannot even start a handshake. Absent: an open mesh. */
  psk?: Uint8Array;
  /** Circuit relay v2 (relay-options.ts). Default `client`: reservations on up to two relays, no relay served. */
  relay?: RelayMode;
  /** Counts the bytes of every stream protocol and connection (`mycel_protocol_bytes_total`). */
  wire?: WireBytes;
}

/**
 * Limits are set deliberately: a device has little memory, and a hostile or buggy peer must not be able to
 * exhaust it with connections, pending dials, or streams.
 */
export async function createHost(opts: HostOptions): Promise<MeshHost> {
  if (opts.psk) boundPnetCipher();
  const relay = opts.relay ?? 'client';
  const host = await createLibp2p<MeshServices>({
    privateKey: opts.privateKey,
    addresses: { listen: [...opts.listen, ...relayListenAddresses(relay)] },
    transports: [
      // Relayed connections go through the same upgrader as TCP ones: the pre-shared key (pnet), Noise and the
      // connection gater (revocations) apply to them end to end; the relay sees only ciphertext.
      circuitRelayTransport({
        reservationCompletionTimeout: 10_000,
        maxInboundStopStreams: 64,
        maxOutboundStopStreams: 64,
      }),
      opts.transport ??
        tcp({
          maxConnections: opts.maxConnections + INTRODUCTION_SLOTS + 16,
          inboundSocketInactivityTimeout: 5 * 60_000,
          outboundSocketInactivityTimeout: 5 * 60_000,
          dialOpts: { noDelay: true },
        }),
    ],
    ...(opts.wire ? { metrics: () => opts.wire as WireBytes } : {}),
    ...(opts.psk ? { connectionProtector: preSharedKey({ psk: pnetKey(opts.psk), timeout: 10_000 }) } : {}),
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux({
        maxInboundStreams: 256,
        maxOutboundStreams: 256,
        // Yamux pings only to size its stream windows by RTT (a ping at connect, then one per interval from each
        // side); liveness digests already keep every link and its NAT mapping busy, so the 30 s default is
        // mostly overhead; the ping at connect sizes the windows.
        keepAliveInterval: 600_000,
        // A stream's receive window is what a paused reader (net/framed-stream.ts) may still be sent: yamux
        // doubles it up to 16 MiB on a fast link, which would let one stream of a slow reader hold 16 MiB. At
        // 1 MiB one stream still carries 80 Mbit/s over 100 ms of round trip.
        streamOptions: { maxStreamWindowSize: STREAM_WINDOW_BYTES },
      }),
    ],
    connectionGater: opts.connectionGater ?? { denyDialMultiaddr: () => false },
    connectionManager: {
      maxConnections: opts.maxConnections + INTRODUCTION_SLOTS,
      maxParallelDials: 8,
      maxDialQueueLength: 64,
      maxPeerAddrsToDial: 8,
      dialTimeout: 10_000,
      inboundUpgradeTimeout: 10_000,
      maxIncomingPendingConnections: 16,
      // libp2p refuses more than 5 inbound connections a second from one host by default; a site's devices
      // share one NAT address and all re-dial together after an outage, so that limit resets their dials.
      inboundConnectionThreshold: 50,
      // Our own dialer re-dials with backoff; libp2p's reconnect queue would double the work.
      reconnectRetries: 0,
    },
    connectionMonitor: {
      pingInterval: opts.pingIntervalMs,
      // A slow WAN link is not a dead one: liveness decides, not a single missed ping.
      abortConnectionOnPingFailure: false,
      protocolPrefix: PROTOCOL_PREFIX,
    },
    services: {
      identify: identify({ protocolPrefix: PROTOCOL_PREFIX, timeout: 10_000, maxMessageSize: 8192 }),
      ping: ping({ protocolPrefix: PROTOCOL_PREFIX, timeout: 10_000 }),
      pubsub: createPubsub(),
      // Answers peers' dial-back requests and asks them about this agent's public addresses (private ones are
      // never checked: js-libp2p's AutoNAT skips them); confirmed addresses are what identify advertises.
      autonat: autoNAT({ protocolPrefix: PROTOCOL_PREFIX, timeout: 10_000, startupDelay: 5_000 }),
      // A relayed connection is upgraded to a direct one by hole punching when both ends have public addresses.
      dcutr: dcutr({ timeout: 10_000 }),
      ...(relay === 'server' ? { relay: circuitRelayServer(RELAY_LIMITS) } : {}),
    },
  }).catch((err: unknown) => {
    throw explainListenFailure(err);
  });
  keepGossipStreams(host, host.services.pubsub);
  return host;
}
