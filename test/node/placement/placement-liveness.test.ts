import { describe, expect, it } from 'vitest';
import { placementLiveness } from '../../../src/node/placement/placement-liveness.js';

const base = {
  heard: [{ peerId: 'b', status: 'alive' as const, lastSeen: 10_500 }],
  recorded: ['self', 'b', 'c'],
  self: 'self',
  startedAt: 10_000,
  lostAfterMs: 3_000,
};

describe('placement liveness', () => {
  it('holds a recorded but unheard node as suspect during the first lost-period after start', () => {
    expect(placementLiveness({ ...base, now: 12_999 })).toEqual([
      { peerId: 'b', status: 'alive', lastSeen: 10_500 },
      { peerId: 'c', status: 'suspect', lastSeen: 10_000 },
    ]);
  });

  it('then counts it lost, last seen at our start, so disconnect.lostAfter runs from the restart', () => {
    expect(placementLiveness({ ...base, now: 13_000 })).toContainEqual({
      peerId: 'c',
      status: 'lost',
      lastSeen: 10_000,
    });
  });

  it('never lists this node or overrides what heartbeats say of a heard peer', () => {
    const view = placementLiveness({
      ...base,
      heard: [{ peerId: 'b', status: 'lost', lastSeen: 9_000 }],
      now: 20_000,
    });
    expect(view.map((p) => p.peerId)).toEqual(['b', 'c']);
    expect(view[0]).toEqual({ peerId: 'b', status: 'lost', lastSeen: 9_000 });
  });

  it('counts a node whose record says it is leaving lost since ever, though its last beat said alive', () => {
    const view = placementLiveness({ ...base, leaving: ['b', 'c', 'self'], now: 11_000 });
    expect(view).toEqual([
      { peerId: 'b', status: 'lost', lastSeen: 0 },
      { peerId: 'c', status: 'lost', lastSeen: 0 },
    ]);
  });
});
