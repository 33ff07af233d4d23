import { QUIET, withKeepAlive } from '../../../lib/keep-alive.js';
import { type EventFeed, type EventFilter, FeedOverflow } from '../../events/event-feed.js';
import type { MeshEvent } from '../../events/mesh-events.js';
import { ApiError, type Route } from '../control-api.js';

export interface EventsRoutesDeps {
  readonly events: Pick<EventFeed, 'recent' | 'follow'>;
}

/** A blank line this often while a follow is quiet, as the log follow does: clients give up on silent bodies. */
const QUIET_MS = 30_000;

/**
 * `GET /v1/events?job=J&node=N&after=SEQ`: the mesh's recent changes as this agent saw them (JSON), and with
 * `follow=true` each new one as NDJSON as it happens. A follower too slow for the mesh gets an `error` record
 * and the stream ends; it follows again with `after` set to the last seq it read.
 */
export function eventsRoutes(deps: EventsRoutesDeps, options: { quietMs?: number } = {}): Route[] {
  const quietMs = options.quietMs ?? QUIET_MS;
  return [
    {
      method: 'GET',
      path: '/v1/events',
      handler: (req) => {
        const { follow, filter, after } = parseQuery(req.query);
        if (!follow) return { json: { events: deps.events.recent(filter, after ?? 0) } };
        const events = deps.events.follow(filter, req.signal, after);
        return { stream: ndjson(events, quietMs), contentType: 'application/x-ndjson' };
      },
    },
  ];
}

function parseQuery(query: URLSearchParams): { follow: boolean; filter: EventFilter; after?: number } {
  const follow = query.get('follow');
  if (follow !== null && follow !== 'true' && follow !== 'false')
    throw new ApiError(400, `follow must be true or false, not "${follow}"`);
  const after = query.get('after');
  if (after !== null && !/^\d{1,15}$/.test(after))
    throw new ApiError(400, `after must be the seq of an event (a whole number), not "${after}"`);
  const text = (name: string) => {
    const value = query.get(name);
    if (value !== null && (value.length === 0 || value.length > 256))
      throw new ApiError(400, `${name} must be 1-256 characters`);
    return value ?? undefined;
  };
  return {
    follow: follow === 'true',
    filter: { job: text('job'), node: text('node') },
    ...(after === null ? {} : { after: Number(after) }),
  };
}

async function* ndjson(events: AsyncGenerator<MeshEvent>, quietMs: number): AsyncGenerator<string> {
  try {
    for await (const event of withKeepAlive(events, quietMs))
      yield event === QUIET ? '\n' : `${JSON.stringify(event)}\n`;
  } catch (err) {
    if (!(err instanceof FeedOverflow)) throw err;
    yield `${JSON.stringify({ error: err.message })}\n`;
  }
}
