import type { MeshState } from '../../../crdt/mesh-state.js';
import { parseDuration } from '../../../lib/duration.js';
import { errorMessage } from '../../../lib/error-message.js';
import { QUIET, withKeepAlive } from '../../../lib/keep-alive.js';
import type { LogLine } from '../../drivers/driver.js';
import type { LivenessService } from '../../liveness/liveness-service.js';
import { type LogRequest, logRequestSchema } from '../../logs/alloc-logs-frames.js';
import { type AllocOwner, allocOwner, ownerView } from '../../logs/alloc-logs-local.js';
import { AllocLogsError, type AllocLogsProtocol } from '../../logs/alloc-logs-protocol.js';
import type { PlacementService } from '../../placement/placement-service.js';
import { ApiError, type Route } from '../control-api.js';
import type { LogRecord } from '../types.js';

/** What the log routes read: who owns an alloc (state, placement), whether it is reachable, and the logs. */
export interface AllocLogsRoutesDeps {
  readonly peerId: string;
  readonly state: { readonly state: Pick<MeshState, 'allocations' | 'nodes'> };
  readonly placement: Pick<PlacementService, 'allocs'>;
  peers: LivenessService['peers'];
  readonly allocLogs: Pick<AllocLogsProtocol, 'local' | 'open'>;
}

/**
 * A blank line this often while a follow is quiet: HTTP clients give up on a body that says nothing for long
 * (fetch after 5 minutes), and a follow of a quiet workload can say nothing for hours.
 */
const QUIET_MS = 30_000;

/**
 * `GET /v1/allocs/:id/logs?follow=true&tail=N&since=10m&stream=stdout|stderr`, NDJSON. The allocation's own
 * node serves it: this agent's drivers when that is this node, else the owner over the alloc-logs protocol.
 * Refusals and unreachable owners are HTTP errors before the first line; a failure after it is the last
 * record. A client that disconnects aborts the stream to the owner, which stops reading the workload's log.
 */
export function allocLogsRoutes(deps: AllocLogsRoutesDeps, options: { quietMs?: number } = {}): Route[] {
  const quietMs = options.quietMs ?? QUIET_MS;
  return [
    {
      method: 'GET',
      path: '/v1/allocs/:id/logs',
      handler: async (req) => {
        const request = parseRequest(req.params.id ?? '', req.query);
        const owner = allocOwner(ownerView(deps.state.state, deps.placement), request.allocId);
        if (!owner)
          throw new ApiError(404, `no allocation "${request.allocId}"; meshctl alloc list shows them`);
        const lines =
          owner.peerId === deps.peerId
            ? await deps.allocLogs.local(request, req.signal).catch((err: unknown) => {
                throw refusal(
                  err,
                  request.allocId,
                  { ...owner, name: `${owner.name}, this node` },
                  req.signal,
                );
              })
            : await openRemote(deps, owner, request, req.signal);
        return { stream: ndjson(lines, owner, quietMs, req.signal), contentType: 'application/x-ndjson' };
      },
    },
  ];
}

function parseRequest(allocId: string, query: URLSearchParams): LogRequest {
  const follow = query.get('follow');
  if (follow !== null && follow !== 'true' && follow !== 'false')
    throw new ApiError(400, `follow must be true or false, not "${follow}"`);
  const tail = query.get('tail');
  if (tail !== null && !/^\d+$/.test(tail))
    throw new ApiError(400, `tail must be a whole number of lines, not "${tail}"`);
  const since = query.get('since');
  const sinceMs = since === null ? undefined : parseDuration(since);
  if (sinceMs && !sinceMs.ok) throw new ApiError(400, `since: ${sinceMs.error}`);
  const parsed = logRequestSchema.safeParse({
    allocId,
    follow: follow === 'true',
    ...(tail === null ? {} : { tail: Number(tail) }),
    ...(sinceMs?.ok ? { sinceMs: sinceMs.ms } : {}),
    ...(query.get('stream') === null ? {} : { stream: query.get('stream') }),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || 'request';
    throw new ApiError(400, `${field === 'allocId' ? 'alloc id' : field}: ${issue?.message}`);
  }
  return parsed.data;
}

async function openRemote(
  deps: AllocLogsRoutesDeps,
  owner: AllocOwner,
  request: LogRequest,
  signal: AbortSignal,
): Promise<AsyncIterable<LogLine>> {
  const peer = deps.peers().find((p) => p.peerId === owner.peerId);
  // A lost owner with no link left is not worth a dial timeout: say so at once.
  if (peer?.liveness === 'lost' && !peer.connected) {
    const silent = Math.round((Date.now() - peer.lastSeen) / 1000);
    throw unreachable(request.allocId, owner, `it is lost (not heard from for ${silent}s)`);
  }
  try {
    return await deps.allocLogs.open(owner.peerId, request, signal);
  } catch (err) {
    throw refusal(err, request.allocId, owner, signal);
  }
}

function refusal(err: unknown, allocId: string, owner: AllocOwner, signal: AbortSignal): unknown {
  // The client left before the owner answered: nobody reads this, and it is not the agent's failure.
  if (signal.aborted) return new ApiError(499, 'the client went away');
  if (!(err instanceof AllocLogsError)) return err;
  switch (err.code) {
    case 'unreachable':
    case 'timeout':
    case 'protocol':
      return unreachable(allocId, owner, err.message);
    case 'not-found':
    case 'not-owner':
      return new ApiError(404, `${owner.name} (${owner.peerId}): ${err.message}`);
    case 'bad-request':
    case 'unsupported':
      return new ApiError(400, `${owner.name}: ${err.message}`);
    case 'busy':
      return new ApiError(429, `${owner.name} (${owner.peerId}) refused: ${err.message}`);
    case 'failed':
      return new ApiError(502, `${owner.name} (${owner.peerId}) cannot read the logs: ${err.message}`);
  }
}

function unreachable(allocId: string, owner: AllocOwner, reason: string): ApiError {
  return new ApiError(
    502,
    `cannot reach ${owner.name} (${owner.peerId}), the node that runs alloc ${allocId}: ${reason}. ` +
      'Logs stay on that device: check that its agent runs and is connected (meshctl peers), or read them ' +
      `there with meshctl alloc logs ${allocId}`,
  );
}

async function* ndjson(
  lines: AsyncIterable<LogLine>,
  owner: AllocOwner,
  quietMs: number,
  signal: AbortSignal,
): AsyncGenerator<string> {
  const record = (r: LogRecord) => `${JSON.stringify(r)}\n`;
  try {
    for await (const line of withKeepAlive(lines, quietMs))
      yield line === QUIET ? '\n' : record({ stream: line.stream, line: line.line });
  } catch (err) {
    if (signal.aborted) return;
    const reason = errorMessage(err);
    yield record({ error: `the log from ${owner.name} (${owner.peerId}) broke off: ${reason}` });
    return;
  }
  if (!signal.aborted) yield record({ end: true });
}
