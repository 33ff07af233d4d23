import { Socket } from 'node:net';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { afterEach, expect, test, vi } from 'vitest';
import { FramedStream } from '../../../src/lib/p2p/framed-stream.js';
import { openStream } from '../../../src/lib/p2p/open-stream.js';
import { createHost, type MeshHost } from '../../../src/node/net/libp2p-host.js';
import { CONNECTION_TOTAL, WireBytes } from '../../../src/node/net/wire-bytes.js';
import { MeshMetrics } from '../../../src/node/setup/metrics.js';
import { waitFor } from '../../support/agents.js';

const PROTOCOL = '/mycel/test-bytes/1.0.0';
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const stop of stops.splice(0)) await stop();
});

async function host(): Promise<{ host: MeshHost; wire: WireBytes }> {
  const wire = new WireBytes();
  const h = await createHost({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    maxConnections: 8,
    pingIntervalMs: 600_000,
    wire,
  });
  stops.push(async () => {
    await h.stop();
  });
  return { host: h, wire };
}

const bytesOf = (wire: WireBytes, protocol: string, direction: 'in' | 'out') =>
  wire.totals().find((t) => t.protocol === protocol && t.direction === direction)?.bytes ?? 0;

test('counts each stream protocol and each whole connection, both ways, and shows them as a metric', async () => {
  const [a, b] = await Promise.all([host(), host()]);
  const received: number[] = [];
  await b.host.handle(PROTOCOL, async (stream) => {
    const framed = new FramedStream(stream, { maxFrameBytes: 1 << 20, idleTimeoutMs: 5_000 });
    for (let f = await framed.read(); f; f = await framed.read()) received.push(f.byteLength);
  });
  const connection = await a.host.dial(b.host.getMultiaddrs()[0]!);
  const framed = new FramedStream(await openStream(connection, PROTOCOL, AbortSignal.timeout(5_000)), {
    maxFrameBytes: 1 << 20,
    idleTimeoutMs: 5_000,
  });
  await framed.write(new Uint8Array(10_000));
  await waitFor('the frame to arrive', () => received.length === 1, 5_000);
  // The payload and its two-byte length prefix, nothing of the layers below.
  expect(bytesOf(a.wire, PROTOCOL, 'out')).toBe(10_002);
  expect(bytesOf(b.wire, PROTOCOL, 'in')).toBe(10_002);
  // The connection carries the stream plus Noise, yamux and the handshakes.
  expect(bytesOf(a.wire, CONNECTION_TOTAL, 'out')).toBeGreaterThan(10_002);
  expect(bytesOf(b.wire, CONNECTION_TOTAL, 'in')).toBe(bytesOf(a.wire, CONNECTION_TOTAL, 'out'));

  const metrics = new MeshMetrics({ processMetrics: false });
  a.wire.register(metrics.registry);
  const text = await metrics.registry.metrics();
  expect(text).toContain(`mycel_protocol_bytes_total{protocol="${PROTOCOL}",direction="out"} 10002`);
});

test('a small frame leaves in one socket write, not one per Noise piece', async () => {
  const [a, b] = await Promise.all([host(), host()]);
  await b.host.handle(PROTOCOL, async (stream) => {
    const framed = new FramedStream(stream, { maxFrameBytes: 1 << 20, idleTimeoutMs: 5_000 });
    while (await framed.read());
  });
  const connection = await a.host.dial(b.host.getMultiaddrs()[0]!);
  const framed = new FramedStream(await openStream(connection, PROTOCOL, AbortSignal.timeout(5_000)), {
    maxFrameBytes: 1 << 20,
    idleTimeoutMs: 5_000,
  });
  await framed.write(new Uint8Array(40));
  await new Promise((r) => setTimeout(r, 200));
  const writes = vi.spyOn(Socket.prototype, 'write');
  await framed.write(new Uint8Array(40));
  expect(writes).toHaveBeenCalledTimes(1);
});
