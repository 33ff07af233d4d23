import type { MeshState } from '../../crdt/mesh-state.js';
import type { DeviceCondition, MeshLook } from './mesh-events.js';

export interface LookSources {
  readonly self: string;
  readonly state: Pick<MeshState, 'jobs' | 'allocations' | 'nodes' | 'isRevoked'>;
  /** How this agent hears a peer now; undefined when it never has. */
  readonly liveness: (peer: string) => 'alive' | 'suspect' | 'lost' | undefined;
}

/** The replica and liveness as the events compare them. */
export function meshLook({ self, state, liveness }: LookSources): MeshLook {
  const jobs = new Map(
    state.jobs().map((j) => {
      const promoted = j.promoted?.includes(j.current.version) === true;
      return [
        j.name,
        { version: j.current.version, desired: j.desired, ...(promoted ? { promoted } : {}) },
      ] as const;
    }),
  );
  const copies = new Map(
    state.allocations().map((a) => [
      a.allocId,
      {
        job: a.job,
        node: a.node,
        state: a.state,
        health: a.health,
        ...(a.lastError === undefined ? {} : { lastError: a.lastError }),
        ...(a.exitCode === undefined ? {} : { exitCode: a.exitCode }),
      },
    ]),
  );
  const devices = new Map(
    state.nodes().map((n) => {
      const condition: DeviceCondition = state.isRevoked(n.peerId)
        ? 'revoked'
        : n.leaving !== undefined
          ? 'left'
          : n.peerId === self
            ? 'alive'
            : (liveness(n.peerId) ?? 'unheard');
      return [n.peerId, { name: n.name, condition }] as const;
    }),
  );
  return { jobs, copies, devices };
}
