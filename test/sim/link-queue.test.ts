import { expect, test } from 'vitest';
import { FaultNetwork } from '../../sim/fault/fault-network.js';
import { LinkQueue } from '../../sim/fault/link-queue.js';
import { TokenBucket } from '../../sim/fault/token-bucket.js';

/** The fault layer's timing rules, on a real clock with real timers: order, latency, holding, TCP timeout. */
function queue(network: FaultNetwork) {
  const delivered: { at: number; bytes: number }[] = [];
  const resets: string[] = [];
  const q = new LinkQueue({
    network,
    from: 'a',
    to: 'b',
    deliver: (bytes) => delivered.push({ at: performance.now(), bytes: bytes.byteLength }),
    reset: (reason) => resets.push(reason),
  });
  // As ShapedConnection does: a rule change reaches the queues of the link.
  network.onChange(() => q.linkChanged());
  return { q, delivered, resets };
}

const net = (tcpTimeoutMs = 10_000) =>
  new FaultNetwork({ now: () => performance.now(), random: () => 0.5, tcpTimeoutMs });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a token bucket lets its burst through at once and queues the rest at its rate', () => {
  const bucket = new TokenBucket(1_000, 100, 0);
  expect(bucket.reserve(100, 0)).toBe(0);
  // 500 bytes of debt at 1,000 B/s: they have left the link half a second later.
  expect(bucket.reserve(500, 0)).toBe(500);
  // The next byte waits behind the debt.
  expect(bucket.reserve(1, 0)).toBeCloseTo(501, 5);
});

test('latency and jitter delay chunks without reordering them', async () => {
  const network = net();
  network.set('a', 'b', { latencyMs: 80, jitterMs: 40 });
  const { q, delivered } = queue(network);
  const sent = performance.now();
  for (const size of [1, 2, 3]) q.push(new Uint8Array(size));
  await q.idle();
  expect(delivered.map((d) => d.bytes)).toEqual([1, 2, 3]);
  // random() is 0.5: 80 ms + 20 ms of jitter.
  for (const d of delivered) expect(d.at - sent).toBeGreaterThanOrEqual(99);
});

test('bandwidth spreads a burst over time', async () => {
  const network = net();
  network.set('a', 'b', { bytesPerSecond: 20_000 });
  const { q, delivered } = queue(network);
  const sent = performance.now();
  // Burst 2,000 bytes; the other 4,000 need 200 ms at 20 kB/s.
  for (let i = 0; i < 6; i++) q.push(new Uint8Array(1_000));
  await q.idle();
  expect((delivered.at(-1)?.at ?? 0) - sent).toBeGreaterThanOrEqual(190);
  expect(network.counters.get('a')?.bytesSent).toBe(6_000);
});

test('a down link holds bytes and releases them in order when it comes back', async () => {
  const network = net();
  const { q, delivered } = queue(network);
  network.set('a', 'b', { down: true });
  q.push(new Uint8Array(1));
  q.push(new Uint8Array(2));
  await sleep(100);
  expect(delivered).toEqual([]);
  // The reverse direction is its own rule: a → b stays down while b → a is up.
  expect(network.rule('b', 'a').down).toBe(false);
  network.heal();
  await q.idle();
  expect(delivered.map((d) => d.bytes)).toEqual([1, 2]);
});

test('bytes held past the TCP timeout reset the connection', async () => {
  const network = net(150);
  const { q, resets } = queue(network);
  network.setOffline('b', 'test', true);
  q.push(new Uint8Array(10));
  await sleep(400);
  expect(resets).toHaveLength(1);
  expect(resets[0]).toMatch(/held \d+ ms/);
});

test('no new connection across a link that is down either way or refuses dials', () => {
  const network = net();
  network.set('a', 'b', { down: true });
  expect(network.refusesDial('a', 'b')).toBe(true);
  // b's SYN-ACK would never come back to a's side either.
  expect(network.refusesDial('b', 'a')).toBe(true);
  network.heal();
  network.set('a', 'b', { noDial: true });
  expect(network.refusesDial('a', 'b')).toBe(true);
  expect(network.refusesDial('b', 'a')).toBe(false);
});
