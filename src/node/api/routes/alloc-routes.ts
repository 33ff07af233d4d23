import type { AllocStatus } from '../../../crdt/records.js';
import type { Agent } from '../../agent.js';
import type { AllocRow } from '../../placement/placement-service.js';
import type { AllocEvent } from '../../workloads/alloc-events.js';
import { ApiError, type Route } from '../control-api.js';

/** What `meshctl alloc status` shows: the replicated status, the desired placement, and the owner's events. */
export interface AllocDetail {
  allocId: string;
  /** As the owning node last reported it, replicated to every agent. */
  status: AllocStatus | null;
  /** Where this agent's placement wants the copy, or why it stops it. */
  desired: AllocRow | null;
  /** Recent events, kept by the node that runs the copy; null when that node is another agent. */
  events: AllocEvent[] | null;
  owner: { peerId: string; name: string; local: boolean } | null;
}

export function allocRoutes(agent: Agent): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/allocs/:id',
      handler: (req) => {
        const id = req.params.id ?? '';
        const status = agent.state.state.allocations().find((a) => a.allocId === id) ?? null;
        const desired = agent.workloads.placement.allocs().find((r) => r.allocId === id) ?? null;
        if (!status && !desired) throw new ApiError(404, `no allocation "${id}"; see meshctl alloc list`);
        const ownerId = status?.node ?? desired?.node ?? '';
        const local = ownerId === agent.peerId;
        const record = agent.state.state.nodes().find((n) => n.peerId === ownerId);
        const detail: AllocDetail = {
          allocId: id,
          status,
          desired,
          events: local ? agent.workloads.reconciler.events(id) : null,
          owner: ownerId ? { peerId: ownerId, name: record?.name ?? ownerId, local } : null,
        };
        return { json: detail };
      },
    },
  ];
}
