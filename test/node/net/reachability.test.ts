import { multiaddr } from '@multiformats/multiaddr';
import { expect, test } from 'vitest';
import { fromOutside, reachabilityStatus } from '../../../src/node/net/reachability.js';

const own = [
  multiaddr('/ip4/127.0.0.1/tcp/4001'),
  multiaddr('/ip4/192.168.1.20/tcp/4001'),
  multiaddr('/ip6/fd00:1:2:3::20/tcp/4001'),
  multiaddr('/ip4/10.99.0.1/tcp/4001/p2p/12D3KooWGzh8cHrWPkQ6mG7d6mu3BgoEUq8wEJUkPTyDSvoLXZTm/p2p-circuit'),
];

test('a dial-in from the site LAN, loopback or a relay proves nothing; one from another network does', () => {
  expect(fromOutside(multiaddr('/ip4/192.168.1.33/tcp/50000'), own)).toBe(false);
  expect(fromOutside(multiaddr('/ip4/127.0.0.1/tcp/50000'), own)).toBe(false);
  expect(fromOutside(multiaddr('/ip6/fd00:1:2:3::99/tcp/50000'), own)).toBe(false);
  expect(
    fromOutside(
      multiaddr(
        '/ip4/10.99.0.1/tcp/4001/p2p/12D3KooWGzh8cHrWPkQ6mG7d6mu3BgoEUq8wEJUkPTyDSvoLXZTm/p2p-circuit',
      ),
      own,
    ),
  ).toBe(false);
  // The relay's circuit address is not "our subnet": 10.99.0.0/24 is not counted as one of ours.
  expect(fromOutside(multiaddr('/ip4/10.99.0.7/tcp/50000'), own)).toBe(true);
  expect(fromOutside(multiaddr('/ip4/203.0.113.9/tcp/50000'), own)).toBe(true);
  expect(fromOutside(multiaddr('/ip6/2001:db8::9/tcp/50000'), own)).toBe(true);
});

test('reachable on any dial-in or public address; unreachable only once settled', () => {
  expect(reachabilityStatus(1, 0, false)).toBe('reachable');
  expect(reachabilityStatus(0, 1, false)).toBe('reachable');
  expect(reachabilityStatus(0, 0, false)).toBe('unknown');
  expect(reachabilityStatus(0, 0, true)).toBe('unreachable');
});
