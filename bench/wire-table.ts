/**
 * The per-protocol half of bench/idle-traffic.sh, run inside the bench's network namespace:
 *   wire-table snap <firstApiPort> <agents> <dataDirs>  prints every agent's mycel_protocol_bytes_total as JSON
 *                                                      (agent i's API token is in <dataDirs>/n<i>/api.token)
 *   wire-table table <before.json> <after.json> <agents> <idleS> <countersS> <kernelIpBytes> <kernelSegments>
 * prints bytes per second per agent by protocol and direction, the connections' whole TCP payload, and the
 * kernel's IP bytes (headers and ACKs included). The kernel window (idleS) lies inside the counters' window
 * (countersS): scraping /metrics is loopback traffic too, and must stay out of the kernel's count.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_TOKEN_FILE } from '../src/node/api/client.js';

type Totals = Record<string, number>;

const LINE =
  /^mycel_protocol_bytes_total\{protocol="([^"]*)",direction="(in|out)"\} (\d+(?:\.\d+)?(?:e\+\d+)?)$/;

async function snap(firstPort: number, agents: number, dataDirs: string): Promise<Totals> {
  const totals: Totals = {};
  for (let i = 0; i < agents; i++) {
    const token = readFileSync(join(dataDirs, `n${i}`, API_TOKEN_FILE), 'utf8').trim();
    const res = await fetch(`http://127.0.0.1:${firstPort + i}/metrics`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`agent ${i}: /metrics answered ${res.status}`);
    for (const line of (await res.text()).split('\n')) {
      const m = LINE.exec(line);
      if (!m) continue;
      const key = `${m[1]} ${m[2]}`;
      totals[key] = (totals[key] ?? 0) + Number(m[3]);
    }
  }
  return totals;
}

/** Short names for the table: a protocol's role, not its version string. */
function label(protocol: string): string {
  const known: [RegExp, string][] = [
    [/liveness/, 'liveness digests and own beats'],
    [/meshsub|floodsub/, 'gossipsub (state topic + control)'],
    [/\/ping\//, 'ping'],
    [/\/id\/push/, 'identify push'],
    [/\/id\//, 'identify'],
    [/\/state-sync|\/sync\//, 'state sync (anti-entropy)'],
    [/^connection$/, 'all connections: TCP payload (Noise, yamux, multistream included)'],
  ];
  return known.find(([re]) => re.test(protocol))?.[1] ?? protocol;
}

function table(
  before: Totals,
  after: Totals,
  agents: number,
  idleS: number,
  countersS: number,
  ipBytes: number,
  segments: number,
) {
  const rows: Record<string, { protocol: string; outBps: number; inBps: number }> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const [protocol, direction] = key.split(' ') as [string, 'in' | 'out'];
    const rate = ((after[key] ?? 0) - (before[key] ?? 0)) / agents / countersS;
    rows[protocol] ??= { protocol, outBps: 0, inBps: 0 };
    rows[protocol][direction === 'out' ? 'outBps' : 'inBps'] = Math.round(rate * 10) / 10;
  }
  const connection = rows.connection?.outBps ?? 0;
  const streams = Object.values(rows)
    .filter((r) => r.protocol !== 'connection')
    .sort((a, b) => b.outBps - a.outBps);
  const streamOut = streams.reduce((sum, r) => sum + r.outBps, 0);
  const kernel = ipBytes / agents / idleS;
  const r1 = (x: number) => Math.round(x * 10) / 10;
  return {
    agents,
    idleS,
    unit: 'bytes per second per agent, sent (each byte sent is received by one peer)',
    protocols: streams.map((r) => ({ ...r, what: label(r.protocol) })),
    streamPayloadOutBps: r1(streamOut),
    noiseYamuxMultistreamOutBps: r1(connection - streamOut),
    connectionPayloadOutBps: connection,
    tcpIpHeadersAndAcksOutBps: r1(kernel - connection),
    kernelIpOutBps: r1(kernel),
    kernelSegmentsPerAgentPerS: r1(segments / agents / idleS),
  };
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'snap') {
  console.log(JSON.stringify(await snap(Number(args[0]), Number(args[1]), String(args[2]))));
} else if (mode === 'table') {
  const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Totals;
  const [b, a, n, idle, countersS, ip, seg] = args as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const figures = [n, idle, countersS, ip, seg].map(Number) as [number, number, number, number, number];
  console.log(JSON.stringify(table(read(b), read(a), ...figures)));
} else {
  console.error(
    'usage: wire-table snap <firstApiPort> <agents> <dataDirs> | table <before> <after> <agents> <idleS> <countersS> <ipBytes> <segments>',
  );
  process.exit(2);
}
