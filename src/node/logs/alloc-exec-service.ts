import type { Logger } from '../../lib/logger.js';
import { knownAddressDial } from '../net/known-address-dial.js';
import type { KnownPeers } from '../net/known-peers.js';
import type { MeshHost } from '../net/libp2p-host.js';
import { Started } from '../setup/services.js';
import type { StateService } from '../state/state-service.js';
import type { Workloads } from '../workloads/workloads.js';
import { AllocExecProtocol } from './alloc-exec-protocol.js';
import { ownerView } from './alloc-logs-local.js';

export interface AllocExecServiceDeps {
  readonly self: string;
  readonly host: MeshHost;
  readonly knownPeers: KnownPeers;
  readonly log: Logger;
  readonly now: () => number;
  readonly state: Started<StateService>;
  readonly workloads: Started<Workloads>;
}

/** Operators' commands to this node's copies (exec, restart); built once state and workloads have started. */
export function allocExecService(deps: AllocExecServiceDeps): Started<AllocExecProtocol> {
  return new Started('exec service', async () => {
    const workloads = deps.workloads.value;
    const state = deps.state.value.state;
    const protocol = new AllocExecProtocol({
      self: deps.self,
      // Like logs: an owner behind NAT is dialled at the addresses the mesh described for it, relayed ones too.
      host: knownAddressDial(deps.host, deps.knownPeers),
      log: deps.log,
      now: deps.now,
      view: ownerView(state, workloads.placement),
      operators: () => (state.closed ? state.trust().operators : undefined),
      session: (allocId, command, options) => workloads.session(allocId, command, options),
      restart: (allocId) => workloads.reconciler.restart(allocId),
    });
    await protocol.start();
    return protocol;
  });
}
