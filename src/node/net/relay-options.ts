import type { CircuitRelayServerInit } from '@libp2p/circuit-relay-v2';
import type { RELAY_MODES } from '../setup/flag-values.js';

/**
 * What an agent does with circuit relay v2. `server`: a member others can dial (a gateway with a public address)
 * relays for devices that can only dial out, and holds no reservation itself. `client` (the default): the agent
 * holds a reservation on up to `RELAY_RESERVATIONS` relays among its peers and advertises the `/p2p-circuit`
 * addresses they give it, so a peer that cannot dial it directly reaches it through a relay. `off`: neither
 * (it can still dial others' relayed addresses).
 */
export type RelayMode = (typeof RELAY_MODES)[number];

/** Two relays: one can restart or lose its uplink without the device going dark. */
export const RELAY_RESERVATIONS = 2;

/**
 * A relay is a device too: every relayed connection is bounded in time and bytes, and so are reservations. One
 * reservation per peer is built in (the relay keys them by peer id). 64 MiB covers a long log follow or a remote
 * meshctl session; image layers do not go through relays (registry-p2p serves peers on direct connections only).
 * libp2p's relay has no bandwidth cap: the data limit is what bounds what one peer can make it carry.
 */
const RELAY_DATA_LIMIT_BYTES = 64 * 1024 * 1024;
const RELAY_DURATION_LIMIT_MS = 15 * 60_000;
const RELAY_MAX_RESERVATIONS = 128;
const RELAY_MAX_STREAMS = 64;

export const RELAY_LIMITS: CircuitRelayServerInit = {
  hopTimeout: 15_000,
  maxInboundHopStreams: RELAY_MAX_STREAMS,
  maxOutboundHopStreams: RELAY_MAX_STREAMS,
  maxOutboundStopStreams: RELAY_MAX_STREAMS,
  reservations: {
    maxReservations: RELAY_MAX_RESERVATIONS,
    applyDefaultLimit: true,
    defaultDataLimit: BigInt(RELAY_DATA_LIMIT_BYTES),
    defaultDurationLimit: RELAY_DURATION_LIMIT_MS,
    reservationTtl: 60 * 60_000,
  },
};

/** Each bare `/p2p-circuit` listen address asks libp2p for one reservation on a relay it discovers. */
export function relayListenAddresses(mode: RelayMode): string[] {
  return mode === 'client' ? Array.from({ length: RELAY_RESERVATIONS }, () => '/p2p-circuit') : [];
}
