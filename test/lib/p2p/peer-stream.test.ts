import { afterEach, expect, test } from 'vitest';
import { openPeerStream } from '../../../src/lib/p2p/peer-stream.js';
import { loopbackHosts } from '../../support/hosts.js';

const PROTOCOL = '/mycel/test-peer-stream/1';
const hosts = loopbackHosts();
afterEach(() => hosts.stopAll());

test('a stream goes on the newest connection to the peer, not the first one libp2p holds', async () => {
  const [asker, owner] = [await hosts.host(), await hosts.host()];
  await owner.handle(PROTOCOL, (stream) => void stream.close());
  const first = await asker.dial(owner.getMultiaddrs());
  const second = await asker.dial(owner.getMultiaddrs(), { force: true });
  // What a device dials after its address changed, beside the dead connections TCP still holds.
  const fresh = await asker.dial(owner.getMultiaddrs(), { force: true });
  expect(new Set([first.id, second.id, fresh.id]).size).toBe(3);

  const stream = await openPeerStream(asker, owner.peerId, PROTOCOL, AbortSignal.timeout(5_000));
  expect(fresh.streams).toContain(stream);
  expect([...first.streams, ...second.streams]).not.toContain(stream);
});

test('with no open connection the peer is dialled', async () => {
  const [asker, owner] = [await hosts.host(), await hosts.host()];
  await owner.handle(PROTOCOL, (stream) => void stream.close());
  await asker.peerStore.merge(owner.peerId, { multiaddrs: owner.getMultiaddrs() });
  expect(asker.getConnections(owner.peerId)).toHaveLength(0);

  const stream = await openPeerStream(asker, owner.peerId, PROTOCOL, AbortSignal.timeout(5_000));
  expect(asker.getConnections(owner.peerId)).toHaveLength(1);
  expect(asker.getConnections(owner.peerId)[0]?.streams).toContain(stream);
});
