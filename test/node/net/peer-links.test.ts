import type { Connection } from '@libp2p/interface';
import { describe, expect, it } from 'vitest';
import { chooseLinks, deadLinks, redundantLinks, silentPeers } from '../../../src/node/net/peer-links.js';

const TIMING = { recentMs: 4_000, tieMs: 4_000, quietMs: 6_000 };

function link(id: string, peer: string, direction: 'inbound' | 'outbound', opened: number): Connection {
  return {
    id,
    remotePeer: { toString: () => peer },
    direction,
    status: 'open',
    timeline: { open: opened },
  } as unknown as Connection;
}

function heard(times: Record<string, number>) {
  return (c: Connection) => times[c.id];
}

describe('a peer that restarted and dialled anew', () => {
  // We are 'a', it is 'b'; our old connection to it is dead since t=10 000, its new one works.
  const old = link('old', 'b', 'outbound', 0);
  const fresh = link('new', 'b', 'inbound', 11_000);
  const times = heard({ old: 10_000, new: 19_000 });

  it('is reached on the new connection at once', () => {
    expect(chooseLinks('a', [old, fresh], TIMING).get('b')?.id).toBe('new');
  });

  it('has the old connection closed after the quiet period, not when TCP gives up', () => {
    expect(redundantLinks('a', [old, fresh], times, 15_000, TIMING)).toEqual([]);
    expect(redundantLinks('a', [old, fresh], times, 16_000, TIMING).map((c) => c.id)).toEqual(['old']);
  });

  it('waits twice as long on the side with the higher id', () => {
    const ours = [link('old', 'a', 'outbound', 0), link('new', 'a', 'inbound', 11_000)];
    expect(redundantLinks('b', ours, times, 16_000, TIMING)).toEqual([]);
    expect(redundantLinks('b', ours, times, 22_000, TIMING).map((c) => c.id)).toEqual(['old']);
  });
});

describe('two ends that dialled each other at once', () => {
  it('settle on the same connection: the one the lower id dialled', () => {
    // a's view and b's view of the same two connections: each end's clock orders them its own way.
    const aView = [link('c1', 'b', 'outbound', 100), link('c2', 'b', 'inbound', 105)];
    const bView = [link('c1', 'a', 'inbound', 106), link('c2', 'a', 'outbound', 104)];
    expect(chooseLinks('a', aView, TIMING).get('b')?.id).toBe('c1');
    expect(chooseLinks('b', bView, TIMING).get('a')?.id).toBe('c1');
  });

  it('close nothing while no connection to the peer has been heard', () => {
    const links = [link('c1', 'b', 'outbound', 0), link('c2', 'b', 'inbound', 5)];
    expect(redundantLinks('a', links, heard({}), 60_000, TIMING)).toEqual([]);
  });

  it('never close the only connection to a peer, however quiet', () => {
    expect(redundantLinks('a', [link('c1', 'b', 'outbound', 0)], heard({ c1: 0 }), 60_000, TIMING)).toEqual(
      [],
    );
  });
});

describe('a lone connection that carries no beats', () => {
  const lone = link('c1', 'b', 'outbound', 0);
  const silentSince = heard({ c1: 1_000 });

  it('is dropped once silent twice the quiet period, while the peer is heard through others', () => {
    const alive = () => true;
    expect(deadLinks([lone], silentSince, alive, 12_000, TIMING)).toEqual([]);
    expect(deadLinks([lone], silentSince, alive, 13_000, TIMING).map((c) => c.id)).toEqual(['c1']);
  });

  it('is kept while the peer is heard nowhere: a partition heals on the links it had', () => {
    expect(deadLinks([lone], silentSince, () => false, 600_000, TIMING)).toEqual([]);
  });

  it('is kept while beats arrive on it', () => {
    expect(deadLinks([lone], heard({ c1: 59_000 }), () => true, 60_000, TIMING)).toEqual([]);
  });
});

describe('a peer heard on no connection', () => {
  const nowhere = () => false;

  it('is dialled afresh once every link to it is silent past the quiet period', () => {
    const links = [
      link('c1', 'b', 'outbound', 0),
      link('c2', 'b', 'inbound', 1_000),
      link('c3', 'c', 'outbound', 0),
    ];
    const times = heard({ c1: 10_000, c2: 9_000, c3: 15_000 });
    expect(silentPeers(links, times, nowhere, 15_500, TIMING)).toEqual([]);
    expect(silentPeers(links, times, nowhere, 16_000, TIMING)).toEqual(['b']);
  });

  it('is not, while its beats reach us through others (its dead link is dropped instead)', () => {
    const links = [link('c1', 'b', 'outbound', 0)];
    expect(silentPeers(links, heard({ c1: 0 }), () => true, 60_000, TIMING)).toEqual([]);
  });

  it('is not, when a connection to it was opened within the quiet period', () => {
    const links = [link('c1', 'b', 'outbound', 0), link('c2', 'b', 'outbound', 55_000)];
    expect(silentPeers(links, heard({ c1: 0 }), nowhere, 60_000, TIMING)).toEqual([]);
  });
});
