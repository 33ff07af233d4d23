import { describe, expect, it } from 'vitest';
import type { Digest } from '../../src/registry-p2p/digest.js';
import type { Holding } from '../../src/registry-p2p/oci-protocol.js';
import { LinkedPeersRouter, MemoryRouter } from '../../src/registry-p2p/router.js';

const D = `sha256:${'ab'.repeat(32)}` as Digest;
const signal = () => AbortSignal.timeout(1_000);

describe('LinkedPeersRouter', () => {
  it('asks every linked peer not skipped, and a peer that fails or holds nothing is no holder', async () => {
    const asked: string[] = [];
    const answers: Record<string, Holding | 'error' | undefined> = {
      a: 'complete',
      b: 'partial',
      c: undefined,
      d: 'error',
      e: 'complete',
    };
    const router = new LinkedPeersRouter({
      connectedPeers: () => Object.keys(answers),
      have: async (peer) => {
        asked.push(peer);
        const answer = answers[peer];
        if (answer === 'error') throw new Error('stream reset');
        return answer ? { [D]: answer } : {};
      },
    });
    const holders = await router.lookup(D, { signal: signal(), skip: (p) => p === 'e' });
    expect(asked.sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(holders).toEqual([
      { peer: 'a', holding: 'complete' },
      { peer: 'b', holding: 'partial' },
    ]);
  });
});

describe('MemoryRouter', () => {
  it('shares advertisements through its table, and leaves out itself and skipped peers', async () => {
    const table = new Map();
    const one = new MemoryRouter('one', table);
    const two = new MemoryRouter('two', table);
    await one.advertise([D]);
    two.set('three', D, 'partial');
    expect(await two.lookup(D, { signal: signal() })).toEqual([
      { peer: 'one', holding: 'complete' },
      { peer: 'three', holding: 'partial' },
    ]);
    expect(await one.lookup(D, { signal: signal(), skip: (p) => p === 'three' })).toEqual([]);
    two.set('three', D, undefined);
    expect(await two.lookup(D, { signal: signal() })).toEqual([{ peer: 'one', holding: 'complete' }]);
  });
});
