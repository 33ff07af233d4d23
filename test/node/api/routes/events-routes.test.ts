import { expect, test } from 'vitest';
import { ApiError } from '../../../../src/node/api/control-api.js';
import { eventsRoutes } from '../../../../src/node/api/routes/events-routes.js';
import { EventFeed } from '../../../../src/node/events/event-feed.js';
import { EMPTY_LOOK, type MeshLook } from '../../../../src/node/events/mesh-events.js';

function request(query: string, signal = new AbortController().signal) {
  return { params: {}, query: new URLSearchParams(query), body: async () => ({}), signal } as never;
}

const job = (version: number): MeshLook => ({
  ...EMPTY_LOOK,
  jobs: new Map([['web', { version, desired: 'running' as const }]]),
});

test('bad queries are refused with what to send instead', () => {
  const feed = new EventFeed(
    () => EMPTY_LOOK,
    () => 0,
    { capacity: 10, backlog: 10 },
  );
  const [route] = eventsRoutes({ events: feed });
  const refusal = (query: string) => {
    try {
      route!.handler(request(query));
    } catch (err) {
      return err instanceof ApiError ? `${err.status} ${err.message}` : String(err);
    }
    return 'accepted';
  };
  expect(refusal('follow=yes')).toBe('400 follow must be true or false, not "yes"');
  expect(refusal('after=-1')).toMatch(/^400 after must be the seq of an event/);
  expect(refusal(`job=${'x'.repeat(300)}`)).toBe('400 job must be 1-256 characters');
  expect(refusal('job=web&after=3')).toBe('accepted');
});

test('a follow streams NDJSON, blank lines while quiet, and ends with the client', async () => {
  const looks = [EMPTY_LOOK, job(1), job(2)];
  let i = 0;
  const feed = new EventFeed(
    () => looks[Math.min(i++, 2)]!,
    () => 7,
    { capacity: 10, backlog: 10 },
  );
  feed.prime();
  const [route] = eventsRoutes({ events: feed }, { quietMs: 20 });
  const client = new AbortController();
  const response = (await route!.handler(request('follow=true&after=0', client.signal))) as {
    stream: AsyncIterable<string>;
    contentType: string;
  };
  expect(response.contentType).toBe('application/x-ndjson');
  feed.refresh();
  const chunks: string[] = [];
  for await (const chunk of response.stream) {
    chunks.push(chunk);
    if (chunk === '\n' && chunks.length === 2) feed.refresh();
    if (chunks.filter((c) => c !== '\n').length === 2) client.abort();
  }
  const records = chunks.filter((c) => c !== '\n').map((c) => JSON.parse(c));
  expect(records.map((r) => [r.seq, r.kind, r.version])).toEqual([
    [1, 'job-submitted', 1],
    [2, 'job-updated', 2],
  ]);
  expect(chunks).toContain('\n');
});
