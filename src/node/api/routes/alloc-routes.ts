import type { MeshState } from '../../../crdt/mesh-state.js';
import type { LivenessService } from '../../liveness/liveness-service.js';
import type { PlacementService } from '../../placement/placement-service.js';
import type { AllocEvent } from '../../workloads/alloc-events.js';
import { ApiError, type Route } from '../control-api.js';
import type { AllocDetail } from '../types.js';

/**
 * What `meshctl alloc status` reads: replicated statuses, placement's rows, this node's own events, and the
 * events of a copy another node runs, asked of that node (bounded by the protocol's deadline).
 */
export interface AllocRoutesDeps {
  readonly peerId: string;
  readonly state: { readonly state: Pick<MeshState, 'allocations' | 'nodes'> };
  readonly placement: Pick<PlacementService, 'allocs'>;
  allocEvents(allocId: string): AllocEvent[];
  readonly ownerEvents: { ask(owner: string, allocId: string, signal?: AbortSignal): Promise<AllocEvent[]> };
  peers: LivenessService['peers'];
}

export function allocRoutes(deps: AllocRoutesDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/allocs/:id',
      handler: async (req) => {
        const id = req.params.id ?? '';
        const status = deps.state.state.allocations().find((a) => a.allocId === id) ?? null;
        const desired = deps.placement.allocs().find((r) => r.allocId === id) ?? null;
        if (!status && !desired) throw new ApiError(404, `no allocation "${id}"; see meshctl alloc list`);
        const ownerId = status?.node ?? desired?.node ?? '';
        const local = ownerId === deps.peerId;
        const record = deps.state.state.nodes().find((n) => n.peerId === ownerId);
        const name = record?.name ?? ownerId;
        let events: AllocEvent[] | null = local ? deps.allocEvents(id) : null;
        let eventsError: string | undefined;
        if (!local && ownerId) {
          const peer = deps.peers().find((p) => p.peerId === ownerId);
          try {
            // A lost owner with no link left is not worth a dial timeout: say so at once.
            if (peer?.liveness === 'lost' && !peer.connected)
              throw new Error(
                `it is lost (not heard from for ${Math.round((Date.now() - peer.lastSeen) / 1000)}s)`,
              );
            events = await deps.ownerEvents.ask(ownerId, id, req.signal);
          } catch (err) {
            eventsError = `cannot reach ${name} (${ownerId}), the node that keeps them: ${(err as Error).message}`;
          }
        }
        const detail: AllocDetail = {
          allocId: id,
          status,
          desired,
          events,
          ...(eventsError === undefined ? {} : { eventsError }),
          owner: ownerId ? { peerId: ownerId, name, local } : null,
        };
        return { json: detail };
      },
    },
  ];
}
