import type { MeshState } from '../../crdt/mesh-state.js';
import type { AllocStatus, NodeRecord } from '../../crdt/records.js';
import type { LogLine, LogOptions } from '../drivers/driver.js';
import { DriverError } from '../drivers/driver-error.js';
import type { PlacementService } from '../placement/placement-service.js';
import type { LogRequest } from './alloc-logs-frames.js';
import { AllocLogsError } from './alloc-logs-protocol.js';

/**
 * The owner's side of reading logs: which node an allocation belongs to, and this node's own workloads read
 * through their driver, with failures turned into the errors an asker on another device can act on.
 */
export interface AllocOwner {
  readonly peerId: string;
  readonly name: string;
}

export interface OwnerView {
  allocations(): readonly AllocStatus[];
  nodes(): readonly NodeRecord[];
  /** Where placement puts an alloc that has not reported a status yet. */
  placedOn(allocId: string): string | undefined;
}

export function ownerView(
  state: Pick<MeshState, 'allocations' | 'nodes'>,
  placement: Pick<PlacementService, 'allocs'>,
): OwnerView {
  return {
    allocations: () => state.allocations(),
    nodes: () => state.nodes(),
    placedOn: (allocId) => placement.allocs().find((r) => r.allocId === allocId)?.node,
  };
}

/** The node that runs the alloc by its replicated status (written by that node), else by placement. */
export function allocOwner(view: OwnerView, allocId: string): AllocOwner | undefined {
  const peerId = view.allocations().find((a) => a.allocId === allocId)?.node ?? view.placedOn(allocId);
  if (peerId === undefined) return undefined;
  return { peerId, name: view.nodes().find((n) => n.peerId === peerId)?.name ?? peerId };
}

export interface LocalLogsDeps {
  readonly self: string;
  readonly view: OwnerView;
  readonly now: () => number;
  /** Workloads.logs: the driver's lines, or a DriverError `not-found` when no driver here runs it. */
  readonly logs: (allocId: string, options: LogOptions) => Promise<AsyncIterable<LogLine>>;
}

export function localAllocLogs(
  deps: LocalLogsDeps,
): (request: LogRequest, signal: AbortSignal) => Promise<AsyncIterable<LogLine>> {
  return async (request, signal) => {
    const { allocId } = request;
    const owner = allocOwner(deps.view, allocId);
    if (owner && owner.peerId !== deps.self) {
      throw new AllocLogsError(
        'not-owner',
        `alloc ${allocId} runs on ${owner.name} (${owner.peerId}), not on this node; ask that node`,
      );
    }
    const options: LogOptions = {
      follow: request.follow,
      signal,
      ...(request.tail === undefined ? {} : { tail: request.tail }),
      ...(request.sinceMs === undefined ? {} : { since: deps.now() - request.sinceMs }),
      ...(request.stream === undefined ? {} : { stream: request.stream }),
    };
    try {
      return translated(await deps.logs(allocId, options), allocId);
    } catch (err) {
      throw translate(err, allocId);
    }
  };
}

async function* translated(lines: AsyncIterable<LogLine>, allocId: string): AsyncGenerator<LogLine> {
  try {
    yield* lines;
  } catch (err) {
    throw translate(err, allocId);
  }
}

function translate(err: unknown, allocId: string): unknown {
  if (!(err instanceof DriverError)) return err;
  if (err.code === 'not-found') {
    return new AllocLogsError(
      'not-found',
      `no workload of alloc ${allocId} on this node: it has not started yet, was stopped, or it finished and ` +
        'the finished-copy GC removed it with its logs (meshd --gc-finished-per-job, --gc-finished-max-age-ms)',
    );
  }
  return new AllocLogsError(err.code === 'unsupported' ? 'unsupported' : 'failed', err.message);
}
