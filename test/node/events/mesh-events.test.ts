import { describe, expect, test } from 'vitest';
import { EventFeed, FeedOverflow } from '../../../src/node/events/event-feed.js';
import {
  type CopyLook,
  type DeviceLook,
  EMPTY_LOOK,
  type JobLook,
  type MeshLook,
  meshEvents,
} from '../../../src/node/events/mesh-events.js';

const look = (
  jobs: Record<string, JobLook> = {},
  copies: Record<string, CopyLook> = {},
  devices: Record<string, DeviceLook> = {},
): MeshLook => ({
  jobs: new Map(Object.entries(jobs)),
  copies: new Map(Object.entries(copies)),
  devices: new Map(Object.entries(devices)),
});
const copy = (over: Partial<CopyLook> = {}): CopyLook => ({
  job: 'web',
  node: 'p1',
  state: 'pending',
  health: 'unknown',
  ...over,
});
const devices = { p1: { name: 'n1', condition: 'alive' as const } };

describe('meshEvents', () => {
  test('a job submitted, updated, stopped and purged', () => {
    const v1 = look({ web: { version: 1, desired: 'running' } });
    const v2 = look({ web: { version: 2, desired: 'running' } });
    const stopped = look({ web: { version: 2, desired: 'stopped' } });
    expect(meshEvents(EMPTY_LOOK, v1, 5)).toEqual([{ at: 5, kind: 'job-submitted', job: 'web', version: 1 }]);
    expect(meshEvents(v1, v2, 6)).toEqual([
      { at: 6, kind: 'job-updated', job: 'web', version: 2, reason: 'was version 1' },
    ]);
    expect(meshEvents(v2, stopped, 7).map((e) => e.kind)).toEqual(['job-stopped']);
    expect(meshEvents(stopped, EMPTY_LOOK, 8).map((e) => e.kind)).toEqual(['job-purged']);
    expect(meshEvents(v1, v1, 9)).toEqual([]);
  });

  test('a promotion of the current version, once', () => {
    const v2 = look({ web: { version: 2, desired: 'running' } });
    const promoted = look({ web: { version: 2, desired: 'running', promoted: true } });
    expect(meshEvents(v2, promoted, 5)).toEqual([{ at: 5, kind: 'job-promoted', job: 'web', version: 2 }]);
    expect(meshEvents(promoted, promoted, 6)).toEqual([]);
  });

  test("a copy's life, each step once, on the device that runs it", () => {
    const steps = [
      copy(),
      copy({ state: 'running' }),
      copy({ state: 'running', health: 'healthy' }),
      copy({ state: 'failed', health: 'healthy', lastError: 'exit 3' }),
    ];
    const kinds = steps.map((c, i) =>
      meshEvents(look({}, i === 0 ? {} : { a1: steps[i - 1]! }, devices), look({}, { a1: c }, devices), i),
    );
    expect(kinds.map((events) => events.map((e) => e.kind))).toEqual([
      ['copy-placed'],
      ['copy-running'],
      ['copy-healthy'],
      ['copy-failed'],
    ]);
    expect(kinds[3]![0]).toMatchObject({
      allocId: 'a1',
      job: 'web',
      node: 'p1',
      nodeName: 'n1',
      reason: 'exit 3',
    });
    expect(meshEvents(look({}, { a1: copy() }), EMPTY_LOOK, 9).map((e) => e.kind)).toEqual(['copy-removed']);
  });

  test('a copy back to pending after it ran is restarting, with why, not placed again', () => {
    const running = look({}, { a1: copy({ state: 'running' }) }, devices);
    const waiting = look({}, { a1: copy({ lastError: 'exited with code 3' }) }, devices);
    expect(meshEvents(running, waiting, 1)).toEqual([
      {
        at: 1,
        kind: 'copy-restarting',
        allocId: 'a1',
        job: 'web',
        node: 'p1',
        nodeName: 'n1',
        reason: 'exited with code 3',
      },
    ]);
  });

  test('a copy first heard of already running says placed and running', () => {
    const events = meshEvents(EMPTY_LOOK, look({}, { a1: copy({ state: 'running' }) }), 1);
    expect(events.map((e) => e.kind)).toEqual(['copy-placed', 'copy-running']);
  });

  test('devices join, turn suspect, lost, leave and are revoked', () => {
    const at = (condition: DeviceLook['condition']) => look({}, {}, { p1: { name: 'n1', condition } });
    expect(meshEvents(EMPTY_LOOK, at('alive'), 1)).toEqual([
      { at: 1, kind: 'device-joined', node: 'p1', nodeName: 'n1' },
    ]);
    expect(meshEvents(EMPTY_LOOK, at('lost'), 1).map((e) => e.kind)).toEqual([
      'device-joined',
      'device-lost',
    ]);
    // A record that arrives before the device's beats says joined, then alive once heard: no lost between.
    expect(meshEvents(EMPTY_LOOK, at('unheard'), 1).map((e) => e.kind)).toEqual(['device-joined']);
    expect(meshEvents(at('unheard'), at('alive'), 2).map((e) => e.kind)).toEqual(['device-alive']);
    const path = ['alive', 'suspect', 'lost', 'alive', 'left', 'revoked'] as const;
    const kinds = path.slice(1).map((c, i) => meshEvents(at(path[i]!), at(c), i)[0]?.kind);
    expect(kinds).toEqual(['device-suspect', 'device-lost', 'device-alive', 'device-left', 'device-revoked']);
  });
});

describe('EventFeed', () => {
  const feedOver = (looks: MeshLook[], options = { capacity: 3, backlog: 2 }) => {
    let i = 0;
    return new EventFeed(
      () => looks[Math.min(i++, looks.length - 1)]!,
      () => 100,
      options,
    );
  };
  const jobs = (n: number) =>
    look(
      Object.fromEntries(Array.from({ length: n }, (_, k) => [`j${k}`, { version: 1, desired: 'running' }])),
    );

  test('the loaded replica is not news; later changes are numbered and the last `capacity` kept', () => {
    const feed = feedOver([jobs(1), jobs(3), jobs(5)]);
    feed.prime();
    expect(feed.refresh().map((e) => [e.seq, e.job])).toEqual([
      [1, 'j1'],
      [2, 'j2'],
    ]);
    feed.refresh();
    expect(feed.recent().map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(feed.recent({ job: 'j3' }, 0).map((e) => e.seq)).toEqual([3]);
    expect(feed.recent({}, 3).map((e) => e.seq)).toEqual([4]);
  });

  test('a follower gets what it missed after `after`, then new events, and ends with its signal', async () => {
    const feed = feedOver([jobs(0), jobs(1), jobs(2)], { capacity: 10, backlog: 10 });
    feed.prime();
    feed.refresh();
    const stop = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      for await (const e of feed.follow({}, stop.signal, 0)) {
        seen.push(e.job!);
        if (seen.length === 2) stop.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 10));
    feed.refresh();
    await following;
    expect(seen).toEqual(['j0', 'j1']);
  });

  test('a follower that falls behind the backlog reads what waits, then hears it was cut off', async () => {
    const feed = feedOver([jobs(0), jobs(1), jobs(2), jobs(3), jobs(4)]);
    feed.prime();
    const stop = new AbortController();
    const iterator = feed.follow({}, stop.signal);
    const first = iterator.next(); // registers the follower
    for (let i = 0; i < 4; i++) feed.refresh();
    expect((await first).value?.job).toBe('j0');
    expect((await iterator.next()).value?.job).toBe('j1');
    await expect(iterator.next()).rejects.toBeInstanceOf(FeedOverflow);
  });
});
