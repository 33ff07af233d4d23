import type { AgentStatus } from '../node/api/types.js';

type ReachabilityView = AgentStatus['reachability'];

/** The `Reachability` row of `meshctl status`; older agents send none. */
export function describeReachability(r: ReachabilityView | undefined): string {
  if (!r) return '-';
  const how =
    r.status === 'reachable'
      ? r.dialledInBy > 0
        ? `${r.dialledInBy} peer(s) from other networks dialled in`
        : `public address ${r.publicAddresses.join(', ')}`
      : r.status === 'unreachable'
        ? 'no peer from another network dialled in: peers reach it through its relays'
        : 'too early to tell';
  const relay =
    r.relay === 'server'
      ? `relay for others (${r.reservationsHeld ?? 0} reservation(s) held here)`
      : r.relay === 'client'
        ? r.relayAddresses.length > 0
          ? `reachable through ${r.relayAddresses.length} relay address(es)`
          : 'no relay reservation yet'
        : 'relay off';
  return `${r.status} (${how}); ${relay}; ${r.relayedConnections} relayed connection(s)`;
}
