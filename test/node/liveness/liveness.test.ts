import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { LivenessView } from '../../../src/node/liveness/liveness.js';

const times = { suspectAfterMs: 600, lostAfterMs: 2_000, forgetAfterMs: 60_000 };
/** Beats are numbered by the time they were sent, so a later `at` is a newer beat unless a test says otherwise. */
let nextBeat = 0;
const hb = (incarnation = 1, beat = nextBeat++) => ({ name: 'n', incarnation, beat, addresses: [] });

describe('liveness view', () => {
  test('alive → suspect → lost → alive, each transition reported once', () => {
    const view = new LivenessView(times);
    expect(view.observe('p', 0, hb())).toMatchObject({ from: 'unknown', to: 'alive' });
    expect(view.tick(599)).toEqual([]);
    expect(view.tick(600)).toMatchObject([{ from: 'alive', to: 'suspect' }]);
    expect(view.tick(700)).toEqual([]);
    expect(view.tick(2_000)).toMatchObject([{ from: 'suspect', to: 'lost' }]);
    expect(view.observe('p', 2_500, hb())).toMatchObject({ from: 'lost', to: 'alive' });
    expect(view.get('p', 2_500)?.status).toBe('alive');
  });

  test('what a digest carries: the peers heard within the lost period, suspect ones included', () => {
    const view = new LivenessView(times);
    view.observe('old', 0, hb());
    view.observe('quiet', 1_000, hb());
    view.observe('fresh', 2_500, hb());
    const carried = (now: number) => [...view.heard(now)].map((p) => p.peerId).sort();
    expect(carried(2_500)).toEqual(['fresh', 'quiet']);
    expect(carried(2_999)).toEqual(['fresh', 'quiet']);
    expect(carried(3_000)).toEqual(['fresh']);
    expect(carried(3_000)).toEqual(
      view
        .list(3_000)
        .filter((p) => p.status !== 'lost')
        .map((p) => p.peerId),
    );
  });

  test('a restart (new incarnation) is reported even while alive; an older incarnation is ignored', () => {
    const view = new LivenessView(times);
    view.observe('p', 0, hb(5));
    expect(view.observe('p', 100, hb(9))).toMatchObject({ to: 'alive', restarted: true });
    expect(view.observe('p', 200, hb(5))).toBeUndefined();
    expect(view.get('p', 200)?.incarnation).toBe(9);
  });

  test('a late heartbeat does not move lastSeen backwards', () => {
    const view = new LivenessView(times);
    view.observe('p', 1_000, hb());
    view.observe('p', 400, hb());
    expect(view.get('p', 1_000)?.lastSeen).toBe(1_000);
  });

  test('only a newer beat counts as hearing a peer: the same beat relayed by every neighbour moves nothing', () => {
    const view = new LivenessView(times);
    view.observe('p', 0, hb(1, 7));
    // Neighbours keep relaying beat 7 after p went silent: p must still turn suspect, then lost.
    for (let at = 100; at <= 2_000; at += 100) expect(view.observe('p', at, hb(1, 7))).toBeUndefined();
    expect(view.get('p', 2_000)).toMatchObject({ lastSeen: 0, status: 'lost', beat: 7 });
    expect(view.tick(2_000)).toMatchObject([{ from: 'alive', to: 'lost' }]);
    expect(view.observe('p', 2_100, hb(1, 6))).toBeUndefined();
    expect(view.observe('p', 2_200, hb(1, 8))).toMatchObject({ from: 'lost', to: 'alive' });
    // A restart starts counting again from 0: the new incarnation wins over any beat of the old one.
    expect(view.observe('p', 2_300, hb(2, 0))).toMatchObject({ to: 'alive', restarted: true });
    expect(view.observe('p', 2_400, hb(1, 99))).toBeUndefined();
    expect(view.get('p', 2_400)).toMatchObject({ incarnation: 2, beat: 0, lastSeen: 2_300 });
  });

  test('a peer enters the view only once described; a description may come with an already-heard beat', () => {
    const view = new LivenessView(times);
    expect(view.observe('p', 0, { incarnation: 1, beat: 3 })).toBeUndefined();
    expect(view.list(0)).toEqual([]);
    view.observe('p', 100, { incarnation: 1, beat: 3, name: 'gw', addresses: ['/ip4/10.0.0.1/tcp/1'] });
    view.observe('p', 200, { incarnation: 1, beat: 4 });
    // The same beat, described again with a new address (an IP change under a running agent).
    view.observe('p', 300, { incarnation: 1, beat: 4, name: 'gw', addresses: ['/ip4/10.0.0.2/tcp/1'] });
    expect(view.get('p', 300)).toMatchObject({
      name: 'gw',
      addresses: ['/ip4/10.0.0.2/tcp/1'],
      lastSeen: 200,
    });
  });

  test('long-lost peers are forgotten, which bounds the view', () => {
    const view = new LivenessView(times);
    view.observe('p', 0, hb());
    expect(view.tick(60_000)).toMatchObject([{ to: 'forgotten' }]);
    expect(view.list(60_000)).toEqual([]);
  });

  test('status depends only on the heartbeats heard, not on the order or frequency of ticks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 10_000 })), {
          maxLength: 40,
        }),
        fc.array(fc.integer({ min: 0, max: 12_000 }), { maxLength: 10 }),
        fc.integer({ min: 0, max: 12_000 }),
        (beats, ticks, now) => {
          const sorted = [...beats].sort((x, y) => x[1] - y[1]);
          const ticked = new LivenessView(times);
          const plain = new LivenessView(times);
          const events = [...sorted.map((b) => ({ beat: b })), ...ticks.map((t) => ({ tick: t }))].sort(
            (x, y) => ('beat' in x ? x.beat[1] : x.tick) - ('beat' in y ? y.beat[1] : y.tick),
          );
          for (const e of events) {
            if ('beat' in e) ticked.observe(e.beat[0], e.beat[1], hb(1, e.beat[1]));
            else ticked.tick(e.tick);
          }
          for (const [peer, at] of sorted) plain.observe(peer, at, hb(1, at));
          const end = Math.max(now, sorted.at(-1)?.[1] ?? 0, ...ticks);
          expect(ticked.list(end)).toEqual(
            plain.list(end).filter((p) => end - p.lastSeen < times.forgetAfterMs),
          );
        },
      ),
    );
  });
});

describe('a stall of this agent', () => {
  test('excused time does not count as silence: a peer heard before the stall stays alive after it', () => {
    const view = new LivenessView(times);
    view.observe('p', 0, hb());
    // The agent stalled from 100 to 2_500: without the excuse p would be lost at once.
    view.excuse(2_400, 2_500);
    expect(view.tick(2_500)).toEqual([]);
    expect(view.get('p', 2_500)?.status).toBe('alive');
    // Silence after the stall still counts: p turns suspect a suspect period after its excused last-heard.
    expect(view.tick(2_400 + times.suspectAfterMs)).toMatchObject([{ from: 'alive', to: 'suspect' }]);
  });

  test('an excuse never moves last-heard past now, nor backwards', () =>
    fc.assert(
      fc.property(fc.nat(10_000), fc.nat(10_000), fc.nat(10_000), (heardAt, ms, after) => {
        const view = new LivenessView(times);
        view.observe('p', heardAt, hb());
        const now = heardAt + after;
        view.excuse(ms, now);
        const lastSeen = view.get('p', now)?.lastSeen ?? Number.NaN;
        expect(lastSeen).toBeGreaterThanOrEqual(heardAt);
        expect(lastSeen).toBeLessThanOrEqual(Math.max(heardAt, now));
      }),
    ));
});
