/**
 * bench:alloc-logs: throughput of the alloc-logs protocol between two real libp2p hosts over loopback (TCP,
 * Noise, Yamux): the owner serves N lines of S bytes from memory, the asker reads them all. Measures the
 * protocol and the transport, not a driver. Prints one JSON object.
 * `node dist/build/bench/alloc-logs.js [lines] [bytesPerLine]`
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { pino } from 'pino';
import type { LogLine } from '../src/node/drivers/driver.js';
import { AllocLogsProtocol } from '../src/node/logs/alloc-logs-protocol.js';
import { createHost } from '../src/node/net/libp2p-host.js';

const lines = Number(process.argv[2] ?? 100_000);
const size = Number(process.argv[3] ?? 100);
const text = 'x'.repeat(size);
const log = pino({ level: 'silent' });

async function host() {
  return createHost({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    maxConnections: 8,
    pingIntervalMs: 60_000,
  });
}

async function* source(): AsyncGenerator<LogLine> {
  for (let i = 0; i < lines; i++) yield { stream: 'stdout', line: text };
}

const [owner, asker] = [await host(), await host()];
const serving = new AllocLogsProtocol({ host: owner, log, local: async () => source() });
await serving.start();
const asking = new AllocLogsProtocol({ host: asker, log, local: () => Promise.reject(new Error('unused')) });
await asker.dial(owner.getMultiaddrs()[0]!);

const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();
let received = 0;
for await (const _ of await asking.open(owner.peerId.toString(), { allocId: 'bench.0.1.a', follow: false }))
  received++;
const seconds = (performance.now() - t0) / 1000;
console.log(
  JSON.stringify({
    bench: 'alloc-logs',
    lines: received,
    bytesPerLine: size,
    seconds: Number(seconds.toFixed(3)),
    linesPerSecond: Math.round(received / seconds),
    megabytesPerSecond: Number(((received * size) / seconds / 1e6).toFixed(2)),
    rssGrowthMB: Number(((process.memoryUsage().rss - rssBefore) / 1e6).toFixed(1)),
  }),
);
await Promise.all([owner.stop(), asker.stop()]);
