import type { Logger } from '../../lib/logger.js';
import { knownAddressDial } from '../net/known-address-dial.js';
import type { KnownPeers } from '../net/known-peers.js';
import type { MeshHost } from '../net/libp2p-host.js';
import { Started } from '../setup/services.js';
import type { StateService } from '../state/state-service.js';
import type { Workloads } from '../workloads/workloads.js';
import { localAllocLogs, ownerView } from './alloc-logs-local.js';
import { AllocLogsProtocol } from './alloc-logs-protocol.js';

export interface AllocLogsServiceDeps {
  readonly self: string;
  readonly host: MeshHost;
  readonly knownPeers: KnownPeers;
  readonly log: Logger;
  readonly now: () => number;
  readonly state: Started<StateService>;
  readonly workloads: Started<Workloads>;
}

/** The log protocol, serving this node's copies from its drivers; built once state and workloads have started. */
export function allocLogsService(deps: AllocLogsServiceDeps): Started<AllocLogsProtocol> {
  return new Started('log service', async () => {
    const workloads = deps.workloads.value;
    const protocol = new AllocLogsProtocol({
      host: knownAddressDial(deps.host, deps.knownPeers),
      log: deps.log,
      local: localAllocLogs({
        self: deps.self,
        view: ownerView(deps.state.value.state, workloads.placement),
        now: deps.now,
        logs: (allocId, options) => workloads.logs(allocId, options),
      }),
    });
    await protocol.start();
    return protocol;
  });
}
