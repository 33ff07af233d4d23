import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Connection } from '@libp2p/interface';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodeJoinToken } from '../../src/node/membership/join-token.js';
import { tempDir, waitFor } from '../support/agents.js';
import { testKey } from '../support/keys.js';
import { type LocalMeshd, startLocalMeshd } from '../support/local-meshd.js';
import { bundle, exited, shippedNodeFlags } from '../support/processes.js';
import {
  deadline,
  joinHostile,
  LIBP2P_OWN,
  open,
  PROTOCOLS,
  STALLS,
  type Stalled,
  type Stalls,
  since,
  stallStream,
} from './hostile-protocols.js';
import {
  endsWithin,
  filler,
  head,
  prefix,
  probeStatus,
  procStats,
  pump,
  type RawExchange,
  type StatusSample,
  sleep,
  talk,
} from './hostile-support.js';

/**
 * Issue 16's hostile-input suite: one real meshd, every surface it listens on (control API, registry endpoint,
 * every libp2p protocol it handles) fed oversized, slow, idle, truncated and malformed input by a client in this
 * process, while a probe asks `GET /v1/status` (what `meshctl status` asks) every 200 ms. The agent must answer
 * each within 1 s, end what it should end within its own deadlines, and give back its memory and descriptors.
 *
 * The agent runs a closed mesh and the hostile libp2p peer holds its key: a stolen device, the strongest
 * attacker the transport lets in, and the only way to reach the control protocol (served in closed meshes only).
 */
let meshd: LocalMeshd;
let pid: number;
let token: string;
let apiPort: number;
let registryPort: number;
let agentAddress: string;
let psk: Uint8Array;
let probe: ReturnType<typeof probeStatus>;
let baseline: { rssMb: number; fds: number };
const cleanups: (() => Promise<void> | void)[] = [];
/** Streams with 30 s deadlines, opened by the first libp2p test and checked by the last test. */
let longStalls: Stalls = { peers: [], stalled: [] };
const longStop = new AbortController();
/** Deadlines up to this long are waited for where their streams open; longer ones overlap the whole suite. */
const SHORT_MS = 12_000;
/** HTTP sockets left idle or trickling headers: the agent must close each; checked at the end. */
const lingering: { surface: string; kind: string; exchange: Promise<RawExchange> }[] = [];

beforeAll(async () => {
  await bundle();
  const tmp = await tempDir('mycel-hostile-');
  cleanups.push(tmp.cleanup);
  psk = new Uint8Array(randomBytes(32));
  const operator = await testKey();
  const dataDir = join(tmp.path, 'data');
  meshd = await startLocalMeshd(
    dataDir,
    [
      ...['--driver', 'none', '--registry-listen', '127.0.0.1:0'],
      ...['--join-token', encodeJoinToken({ psk, operators: [operator.id], bootstrap: [] })],
      // Short liveness so the liveness stream's idle deadline (3 × lost-after) fits in the suite.
      ...['--heartbeat-interval-ms', '500', '--suspect-after-ms', '1500', '--lost-after-ms', '3000'],
    ],
    {},
    shippedNodeFlags(),
  );
  cleanups.push(async () => {
    if (meshd.agent.exitCode === null) meshd.agent.kill('SIGTERM');
    await exited(meshd.agent);
  });
  pid = meshd.agent.pid ?? 0;
  apiPort = Number(new URL(meshd.api).port);
  token = (await readFile(join(dataDir, 'api.token'), 'utf8')).trim();
  await waitFor('the registry endpoint address in the log', () =>
    /"registry":"127\.0\.0\.1:\d+"/.test(meshd.agent.output()),
  );
  registryPort = Number(/"registry":"127\.0\.0\.1:(\d+)"/.exec(meshd.agent.output())?.[1]);
  const status = await fetch(`${meshd.api}/v1/status`, { headers: { authorization: `Bearer ${token}` } });
  const addresses = ((await status.json()) as { addresses: string[] }).addresses;
  agentAddress = addresses.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/')) ?? '';
  expect(agentAddress).toContain('/p2p/');
  probe = probeStatus(meshd.api, token, pid);
  cleanups.push(async () => {
    await probe.stop();
  });
  // Startup allocates (wasm, caches, first GC cycles): the baseline is taken once the agent idles.
  await sleep(1_500);
  baseline = procStats(pid);
}, 60_000);

afterAll(async () => {
  // HOSTILE_DUMP=<file> keeps what the agent logged, to see how it took each input.
  if (process.env.HOSTILE_DUMP) await writeFile(process.env.HOSTILE_DUMP, meshd.agent.output());
  for (const c of cleanups.reverse()) await c();
});

const auth = { authorization: `Bearer ${'x'.repeat(64)}` };
const bearer = () => ({ authorization: `Bearer ${token}` });
const MiB = 1024 * 1024;

/** Opens sockets the agent must close by itself: silent ones and ones trickling a header line every 500 ms. */
function leaveLingering(surface: string, port: number, idle: number, slow: number): void {
  for (let i = 0; i < idle; i++)
    lingering.push({ surface, kind: 'idle', exchange: talk(port, [], { guardMs: 16_000 }) });
  for (let i = 0; i < slow; i++) {
    const drip = Array.from({ length: 40 }, (_, n) => [() => sleep(500), `x-drip-${n}: y\r\n`]).flat();
    lingering.push({
      surface,
      kind: 'slowloris',
      exchange: talk(port, ['GET /v1/status HTTP/1.1\r\nhost: x\r\n', ...drip], { guardMs: 16_000 }),
    });
  }
}

/** Every exchange got an answer in `allowed` (none a 5xx) and the connection was closed by the agent. */
async function expectAnswered(
  cases: Record<string, Promise<RawExchange>>,
  allowed: Record<string, (number | undefined)[]>,
): Promise<void> {
  const wrong: string[] = [];
  for (const [name, exchange] of Object.entries(cases)) {
    const x = await exchange;
    if (!(allowed[name] ?? []).includes(x.status) || !x.closedByServer)
      wrong.push(
        `${name}: ${x.status ?? 'no answer'}${x.closedByServer ? '' : ', left open'} (${x.text.split('\r\n')[0]})`,
      );
  }
  expect(wrong).toEqual([]);
}

describe('the control API', () => {
  test('oversized, truncated, malformed and misaddressed requests each get a 4xx and a closed connection', async () => {
    // More than the connection cap (at most 256): the longest idle make room for the probe's connections.
    leaveLingering('control API', apiPort, 280, 20);
    const port = apiPort;
    // POST /v1/trust reads its body first; a job submission in a closed mesh refuses an unsigned one before.
    const trust = (extra: Record<string, string | number>) =>
      head('POST', '/v1/trust', { ...bearer(), ...extra });
    const cases: Record<string, Promise<RawExchange>> = {
      // Refused before the body is read: neither the token nor the limit lets 8 MiB into memory.
      'no token, 50 MiB declared': talk(port, [
        head('POST', '/v1/jobs', { 'content-length': 50 * MiB }),
        ...filler(8 * MiB),
      ]),
      'wrong token, 50 MiB declared': talk(port, [
        head('POST', '/v1/jobs', { ...auth, 'content-length': 50 * MiB }),
        ...filler(8 * MiB),
      ]),
      'token, 50 MiB declared': talk(port, [trust({ 'content-length': 50 * MiB }), ...filler(8 * MiB)]),
      'token, endless chunked body': talk(port, [
        trust({ 'transfer-encoding': 'chunked' }),
        ...filler(8 * MiB).flatMap((c) => [`${c.length.toString(16)}\r\n`, c, '\r\n']),
      ]),
      'truncated body, then half-close': talk(port, [trust({ 'content-length': 1000 }), '{"name":"tru'], {
        end: true,
      }),
      'malformed JSON': talk(port, [trust({ 'content-length': 9 }), '{"name":['], { end: true }),
      'JSON of the wrong shape': talk(port, [trust({ 'content-length': 2 }), '[]'], { end: true }),
      'invalid UTF-8': talk(port, [trust({ 'content-length': 4 }), new Uint8Array([0x22, 0xff, 0xfe, 0x22])]),
      'bad escape in the path': talk(port, [head('GET', '/v1/jobs/%E0%A4%A', bearer())]),
      'no URL at all': talk(port, [head('GET', '//[', bearer())]),
      'dot segments': talk(port, [head('GET', '/v1/../../etc/passwd', bearer())]),
      'NUL in the path': talk(port, [head('GET', '/v1/jobs/a%00b', bearer())]),
      'unknown route': talk(port, [head('GET', '/v2/_catalog', bearer())]),
      'unknown method': talk(port, [head('BREW', '/v1/status', bearer())]),
      '20 KiB path': talk(port, [head('GET', `/v1/jobs/${'a'.repeat(20 * 1024)}`, bearer())]),
      '20 KiB header': talk(port, [
        head('GET', '/v1/status', { ...bearer(), 'x-big': 'a'.repeat(20 * 1024) }),
      ]),
      '500 headers': talk(port, [
        `GET /v1/status HTTP/1.1\r\nconnection: close\r\n${'x-h: y\r\n'.repeat(500)}\r\n`,
      ]),
      'not HTTP': talk(port, [randomBytes(4096)]),
      'request line cut, then half-close': talk(port, ['GET /v1/sta'], { end: true }),
    };
    await expectAnswered(cases, {
      'no token, 50 MiB declared': [401],
      'wrong token, 50 MiB declared': [401],
      'token, 50 MiB declared': [413],
      'token, endless chunked body': [413],
      'truncated body, then half-close': [400],
      'malformed JSON': [400],
      'JSON of the wrong shape': [400],
      'invalid UTF-8': [400],
      'bad escape in the path': [400],
      'no URL at all': [400, 404],
      'dot segments': [404],
      'NUL in the path': [404],
      'unknown route': [404],
      'unknown method': [400],
      '20 KiB path': [431],
      '20 KiB header': [431],
      '500 headers': [431],
      'not HTTP': [400],
      'request line cut, then half-close': [400],
    });
  });
});

describe('the registry endpoint', () => {
  test('bogus /v2/ paths, bodies, methods and floods get a 4xx each, answered at once', async () => {
    leaveLingering('registry', registryPort, 200, 20);
    const port = registryPort;
    const nowhere = '/v2/127.0.0.1_9/hostile/app';
    const get = (path: string, extra: Record<string, string | number> = {}) =>
      talk(port, [head('GET', path, extra)]);
    const cases: Record<string, Promise<RawExchange>> = {
      base: get('/v2/'),
      'PUT with 50 MiB declared': talk(port, [
        head('PUT', `${nowhere}/blobs/uploads/`, { 'content-length': 50 * MiB }),
        ...filler(8 * MiB),
      ]),
      'GET with 50 MiB declared': talk(port, [
        head('GET', '/v2/', { 'content-length': 50 * MiB }),
        ...filler(8 * MiB),
      ]),
      'no registry': get('/v2/hostile/manifests/latest'),
      'bad registry': get('/v2/EVIL!/app/manifests/latest'),
      'escaped dot segments as a tag': get(`${nowhere}/manifests/..%2f..%2fapi.token`),
      'dot segments in the repository': get('/v2/127.0.0.1_9/../../etc/manifests/latest'),
      'bad escape': get(`${nowhere}/manifests/%E0%A4%A`),
      'digest not sha256': get(`${nowhere}/blobs/md5:abc`),
      'digest not hex': get(`${nowhere}/blobs/sha256:${'z'.repeat(64)}`),
      'blob no manifest declared': get(`${nowhere}/blobs/sha256:${'0'.repeat(64)}`),
      'bad range': get(`${nowhere}/blobs/sha256:${'0'.repeat(64)}`, { range: 'bytes=999999999999-1' }),
      uploads: get(`${nowhere}/blobs/uploads/`),
      catalog: get('/v2/_catalog'),
      '20 KiB path': get(`/v2/${'a'.repeat(20 * 1024)}/manifests/latest`),
      '20 KiB header': get('/v2/', { 'x-big': 'a'.repeat(20 * 1024) }),
      'not HTTP': talk(port, [randomBytes(4096)]),
      'request line cut, then half-close': talk(port, ['GET /v2/127.0.0.1_9/hostile/ma'], { end: true }),
    };
    await expectAnswered(cases, {
      base: [200],
      'PUT with 50 MiB declared': [405],
      'GET with 50 MiB declared': [200],
      'no registry': [404],
      'bad registry': [404],
      'escaped dot segments as a tag': [400],
      'dot segments in the repository': [404],
      'bad escape': [400],
      'digest not sha256': [400],
      'digest not hex': [400],
      'blob no manifest declared': [404],
      'bad range': [404],
      uploads: [404],
      catalog: [404],
      '20 KiB path': [431],
      '20 KiB header': [431],
      'not HTTP': [400],
      'request line cut, then half-close': [400],
    });

    // A flood of tags that make the agent ask an upstream (one that refuses at once), past the endpoint's burst
    // of 200 fetches: each is answered, the ones past the burst with 429 at once.
    const flood: RawExchange[] = [];
    for (let batch = 0; batch < 6; batch++)
      flood.push(
        ...(await Promise.all(
          Array.from({ length: 40 }, (_, i) => get(`${nowhere}/manifests/v${batch}-${i}`)),
        )),
      );
    const statuses = flood.map((x) => x.status);
    expect(
      statuses.filter((s) => s !== 404 && s !== 429),
      String(statuses),
    ).toEqual([]);
    expect(statuses).toContain(429);
    expect(Math.max(...flood.map((x) => x.ms))).toBeLessThan(1_000);
  });
});

describe('every libp2p protocol the agent handles', () => {
  const hostilePeer = async () => {
    const peer = await joinHostile(agentAddress, psk);
    cleanups.push(peer.stop);
    return peer;
  };

  /**
   * One stream of each stalling kind per protocol whose deadline for that kind is `long` (over SHORT_MS) or not,
   * each kind from its own peer: state sync holds one session per peer, liveness two streams (one the beats).
   */
  async function stall(long: boolean, signal: AbortSignal): Promise<Stalls> {
    const peers = {
      withheld: await hostilePeer(),
      silent: await hostilePeer(),
      trickled: await hostilePeer(),
    };
    const stalled: Stalled[] = [];
    for (const p of PROTOCOLS)
      for (const kind of STALLS) {
        const ms = deadline(p, kind);
        if (ms > SHORT_MS !== long) continue;
        stalled.push({ p, kind, ms, w: await stallStream(peers[kind].conn, p, kind, signal) });
      }
    return { peers: Object.values(peers), stalled };
  }

  test('streams whose deadline is 30 s are opened first, and checked by the last test', async () => {
    longStalls = await stall(true, longStop.signal);
    expect(longStalls.stalled.map((x) => `${x.p.name} ${x.kind}`)).toEqual([
      'state-sync trickled',
      'control withheld',
      'control silent',
      'control trickled',
    ]);
  });

  test('an oversized length prefix, garbage, or a truncated frame: the agent ends the stream within 2 s', async () => {
    const { host, conn, stop: leave } = await hostilePeer();
    let advertised: string[] = [];
    await waitFor('the agent to identify itself', async () => {
      advertised = (await host.peerStore.get(conn.remotePeer).catch(() => undefined))?.protocols ?? [];
      return advertised.length > 0;
    });
    // What is not in PROTOCOLS must be libp2p's own: a handler added without a line there fails here.
    const ours = new Set(PROTOCOLS.map((p) => p.protocol));
    const theirs = advertised.filter((p) => !ours.has(p));
    expect(theirs.filter((p) => !LIBP2P_OWN.test(p))).toEqual([]);
    const outcomes: Record<string, number | 'open'> = {};
    const stop = new AbortController();
    for (const p of PROTOCOLS) {
      const inputs: [string, Uint8Array[], boolean][] = [
        // 1 GiB announced, then 2 MiB of it: a reader that believed the prefix would wait and buffer.
        ['oversized prefix', [prefix(1 << 30), ...filler(2 * MiB)], false],
        ['garbage frame and bytes', [prefix(512), randomBytes(512), randomBytes(512)], false],
        ['truncated frame, then close', [prefix(1000), randomBytes(100)], true],
      ];
      for (const [what, chunks, closeAfter] of inputs) {
        const w = await open(conn, p.protocol);
        const sending = pump(w, chunks, stop.signal);
        if (closeAfter) void sending.then(() => w.stream.close().catch(() => undefined));
        await endsWithin(w, 2_000);
        outcomes[`${p.name}: ${what}`] = since(w);
        w.stream.abort(new Error('done'));
        await w.ended;
      }
    }
    // libp2p's own protocols frame differently (ping echoes, identify answers and closes, gossipsub keeps its
    // stream): no deadline of ours applies, only that the agent takes the same inputs in its stride.
    for (const protocol of theirs) {
      for (const chunks of [
        [prefix(1 << 30), ...filler(2 * MiB)],
        [prefix(512), randomBytes(1024)],
      ]) {
        const w = await open(conn, protocol).catch(() => undefined);
        if (!w) continue;
        void pump(w, chunks, stop.signal);
        await endsWithin(w, 300);
        w.stream.abort(new Error('done'));
      }
    }
    stop.abort();
    console.info('hostile frames, ms until the agent ended each:', JSON.stringify(outcomes));
    const open_ = Object.entries(outcomes).filter(([, o]) => o === 'open');
    expect(open_, JSON.stringify(outcomes, null, 1)).toEqual([]);
    expect(conn.status).toBe('open');
    await leave();
  });

  test('withheld, silent and trickling streams end within each protocol’s deadline; a burst is refused', async () => {
    const stop = new AbortController();
    const { peers, stalled } = await stall(false, stop.signal);
    const started = Date.now();
    await waitFor(
      'every stream to pass its protocol’s deadline',
      () => stalled.every((x) => x.w.endedAt !== undefined || Date.now() - started > x.ms + 2_000),
      20_000,
    );
    const report = stalled.map((x) => ({ stream: `${x.p.name} ${x.kind}`, ms: since(x.w), within: x.ms }));
    console.info('stalled streams, ms until the agent ended each:', JSON.stringify(report));
    expect(report.filter((r) => r.ms === 'open' || r.ms > r.within + 2_000)).toEqual([]);
    for (const peer of peers) expect(peer.conn.status).toBe('open');

    // A burst on every protocol at once: beyond each handler's stream limit, refused as they open.
    const conn = peers[0]?.conn as Connection;
    const burst = await Promise.all(
      PROTOCOLS.flatMap((p) =>
        Array.from({ length: 100 }, async () => {
          const w = await open(conn, p.protocol).catch(() => undefined);
          if (w) void pump(w, [prefix(1000), randomBytes(10)], stop.signal);
          return { p, w };
        }),
      ),
    );
    await sleep(1_500);
    const heldOpen = PROTOCOLS.map((p) => ({
      protocol: p.name,
      open: burst.filter((b) => b.p === p && b.w && b.w.endedAt === undefined).length,
      limit: p.maxOpen,
    }));
    expect(heldOpen.filter((h) => h.open > h.limit)).toEqual([]);
    stop.abort();
    for (const w of [...stalled.map((x) => x.w), ...burst.map((b) => b.w)])
      w?.stream.abort(new Error('done'));
    expect(conn.status).toBe('open');
    await Promise.all(peers.map((peer) => peer.stop()));
  }, 40_000);
});

test('throughout: status answered within 1 s, lingering sockets closed by the agent, memory and descriptors given back', async () => {
  await waitFor(
    'the 30 s deadlines to pass',
    () =>
      longStalls.stalled.every((x) => x.w.endedAt !== undefined || Date.now() - x.w.opened > x.ms + 2_000),
    40_000,
  );
  const long = longStalls.stalled.map((x) => ({
    stream: `${x.p.name} ${x.kind}`,
    ms: since(x.w),
    within: x.ms,
  }));
  console.info('long-stalled streams, ms until the agent ended each:', JSON.stringify(long));
  expect(long.filter((r) => r.ms === 'open' || r.ms > r.within + 2_000)).toEqual([]);
  longStop.abort();
  await Promise.all(longStalls.peers.map((peer) => peer.stop()));

  const closed = await Promise.all(lingering.map(async (l) => ({ ...l, x: await l.exchange })));
  const unclosed = closed.filter((c) => !c.x.closedByServer).map((c) => `${c.surface} ${c.kind}`);
  expect(unclosed, 'sockets the agent never closed').toEqual([]);
  // Node's header timeout and the idle guard are both 10 s; a socket evicted over the cap goes sooner.
  expect(Math.max(...closed.map((c) => c.x.ms))).toBeLessThan(13_000);

  await sleep(1_000);
  const samples: StatusSample[] = await probe.stop();
  const slow = samples.filter((s) => s.outcome !== 200 || s.ms >= 1_000);
  expect(samples.length).toBeGreaterThan(50);
  expect(slow, `${slow.length} of ${samples.length} status probes failed or took ≥ 1 s`).toEqual([]);

  const end = procStats(pid);
  console.info(
    'agent before and after:',
    JSON.stringify({
      baseline,
      end,
      peakRssMb: Math.max(...samples.map((s) => s.rssMb)),
      probes: samples.length,
      maxMs: Math.max(...samples.map((s) => s.ms)),
    }),
  );
  // What a hostile client can make the agent hold is bounded: 1 MiB control bodies, and per stream one frame
  // under its limit (4 MiB state sync, 1 MiB liveness and control) plus muxer windows, on a few streams per
  // connection. The idle test holds one near-limit frame on each protocol, ≈ 6 MiB, which costs about twice that
  // in RSS (decryption copies); the rest is heap growth under load (observed +25–40 MB at the end, +35–50 MB at
  // the peak, with the shipped V8 flags). An unbounded read fails the per-surface checks above first; these catch
  // what accumulates instead: ~60 MiB is sent in bodies and frame tails, which a leak would keep.
  expect(end.rssMb - baseline.rssMb).toBeLessThan(64);
  expect(Math.max(...samples.map((s) => s.rssMb)) - baseline.rssMb).toBeLessThan(96);
  // Every socket and stream the hostile client opened is closed by now: the agent must hold what it held before.
  expect(end.fds - baseline.fds).toBeLessThan(32);
  expect(meshd.agent.exitCode).toBeNull();
  const status = await meshd.ctl('status');
  expect(status.code, status.stderr).toBe(0);
  expect(meshd.agent.output()).not.toMatch(/"level":(50|60)/);
}, 60_000);
