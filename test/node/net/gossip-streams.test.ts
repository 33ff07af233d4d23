import { afterEach, expect, test } from 'vitest';
import type { MeshHost } from '../../../src/node/net/libp2p-host.js';
import { loopbackHosts } from '../../support/hosts.js';

const hosts = loopbackHosts();
afterEach(() => hosts.stopAll());

const TOPIC = 'gossip-streams-test';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Publishes from `from` until `to` hears it, or gives up after `ms`; true when it arrived. */
async function reaches(from: MeshHost, to: MeshHost, ms: number): Promise<boolean> {
  const text = `m-${Math.random()}`;
  let heard = false;
  const listener = (evt: CustomEvent<{ data: Uint8Array }>) => {
    if (Buffer.from(evt.detail.data).toString() === text) heard = true;
  };
  to.services.pubsub.addEventListener('message', listener as never);
  const until = Date.now() + ms;
  try {
    while (!heard && Date.now() < until) {
      await from.services.pubsub.publish(TOPIC, Buffer.from(text)).catch(() => undefined);
      await sleep(200);
    }
    return heard;
  } finally {
    to.services.pubsub.removeEventListener('message', listener as never);
  }
}

test('gossip moves to the newer connection when the one it ran on closes (an address change, a stalled link)', async () => {
  const a = await hosts.host();
  const b = await hosts.host();
  for (const h of [a, b]) h.services.pubsub.subscribe(TOPIC);
  await a.dial(b.getMultiaddrs()[0]!);
  expect(await reaches(a, b, 10_000)).toBe(true);
  const first = a.getConnections(b.peerId)[0]!;

  // A second connection beside the first, as a fresh dial after an address change makes; gossip stays on the first.
  await b.dial(a.getMultiaddrs()[0]!, { force: true });
  await sleep(300);
  expect(a.getConnections(b.peerId)).toHaveLength(2);

  await first.close();
  await sleep(300);
  expect(a.getConnections(b.peerId)).toHaveLength(1);
  // Without the hand-over, neither side has a stream on the survivor: nothing arrives until every link closed once.
  expect(await reaches(a, b, 5_000)).toBe(true);
  expect(await reaches(b, a, 5_000)).toBe(true);
}, 30_000);
