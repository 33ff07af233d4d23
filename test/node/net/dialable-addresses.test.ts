import { expect, test } from 'vitest';
import { dialableAddresses } from '../../../src/node/net/peer-dialer.js';

const R1 = '12D3KooWGzh8cHrWPkQ6mG7d6mu3BgoEUq8wEJUkPTyDSvoLXZTm';
const R2 = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK';
const SELF = '12D3KooWLY1yyaoK79FR23Y5z6uZ9e188n1goAXDjZximgfkm9G3';

test('one relayed address per relay leads, so a description cut at 8 addresses still carries them', () => {
  const direct = Array.from({ length: 9 }, (_, i) => `/ip4/192.168.${i}.20/tcp/4001/p2p/${SELF}`);
  const relayed = [
    `/ip4/127.0.0.1/tcp/4001/p2p/${R1}/p2p-circuit/p2p/${SELF}`,
    `/ip4/203.0.113.1/tcp/4001/p2p/${R1}/p2p-circuit/p2p/${SELF}`,
    `/ip4/198.51.100.7/tcp/4001/p2p/${R1}/p2p-circuit/p2p/${SELF}`,
    `/ip4/198.51.100.2/tcp/4001/p2p/${R2}/p2p-circuit/p2p/${SELF}`,
  ];
  const out = dialableAddresses(['/ip4/0.0.0.0/tcp/4001', ...direct, ...relayed]);
  expect(out.slice(0, 2)).toEqual([
    `/ip4/203.0.113.1/tcp/4001/p2p/${R1}/p2p-circuit`,
    `/ip4/198.51.100.2/tcp/4001/p2p/${R2}/p2p-circuit`,
  ]);
  expect(out.slice(2, 8)).toEqual(direct.slice(0, 6).map((a) => a.replace(`/p2p/${SELF}`, '')));
  // Nothing is lost, only ordered: the rest follow.
  expect(out).toHaveLength(direct.length + relayed.length);
  expect(out).not.toContain('/ip4/0.0.0.0/tcp/4001');
});
