import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, expect, test } from 'vitest';
import { connectionCap } from '../../../src/lib/http-server.js';
import { ControlApi } from '../../../src/node/api/control-api.js';

let api: ControlApi | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await api?.close();
  api = undefined;
});

function capture(): { log: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  return { log, lines };
}

/** A raw TCP connection that records when the server closed it. */
function open(port: number): Promise<{ socket: Socket; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => undefined);
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

/** Sends `raw` on a fresh connection and returns everything the server answered before closing. */
async function rawRequest(port: number, raw: string): Promise<string> {
  const { socket, closed } = await open(port);
  let answer = '';
  socket.on('data', (d: Buffer) => {
    answer += d.toString();
    if (answer.includes('\r\n\r\n')) socket.end();
  });
  socket.write(raw);
  await closed;
  return answer;
}

test('the connection cap leaves room: an eighth of the descriptors past a reserve, 8 to 256', () => {
  expect(connectionCap(1024)).toBe(112);
  expect(connectionCap(256)).toBe(16);
  expect(connectionCap(64)).toBe(8);
  expect(connectionCap(1_048_576)).toBe(256);
});

test('idle sockets beyond the cap make room at accept, /healthz answers within 1 s, idle ones are closed', async () => {
  api = new ControlApi(
    [{ method: 'GET', path: '/healthz', handler: () => ({ json: { ok: true } }) }],
    pino({ level: 'silent' }),
    { token: 't'.repeat(64) },
    { maxConnections: 20, headersTimeout: 1_500, idleTimeout: 500 },
  );
  const { port } = await api.listen('127.0.0.1:0', false);
  const start = Date.now();
  const idle = await Promise.all(Array.from({ length: 60 }, () => open(port)));
  let closedNow = 0;
  for (const c of idle) void c.closed.then(() => closedNow++);
  await new Promise((r) => setTimeout(r, 300));
  // Over the cap, connections are closed at accept, not kept until a timeout.
  expect(closedNow).toBe(40);
  const asked = Date.now();
  const health = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1_000) });
  expect(health.status).toBe(200);
  expect(Date.now() - asked).toBeLessThan(1_000);
  const closedAt = await Promise.all(idle.map((c) => c.closed));
  expect(Math.max(...closedAt) - start).toBeGreaterThanOrEqual(1_400);
  expect(Math.max(...closedAt) - start).toBeLessThan(3_000);
});

test('a kept-alive connection is closed once idle; a slow stream is never cut', async () => {
  api = new ControlApi(
    [
      { method: 'GET', path: '/v1/quick', handler: () => ({ json: { ok: true } }) },
      {
        method: 'GET',
        path: '/v1/slow',
        handler: () => ({
          contentType: 'text/plain',
          stream: (async function* () {
            yield 'a\n';
            await new Promise((r) => setTimeout(r, 1_200));
            yield 'b\n';
          })(),
        }),
      },
    ],
    pino({ level: 'silent' }),
    undefined,
    { headersTimeout: 1_000, idleTimeout: 300 },
  );
  const { port } = await api.listen('127.0.0.1:0', false);
  const kept = await open(port);
  let answered = 0;
  kept.socket.on('data', () => {
    answered = Date.now();
  });
  kept.socket.write('GET /v1/quick HTTP/1.1\r\nHost: x\r\n\r\n');
  const closed = await kept.closed;
  expect(answered).toBeGreaterThan(0);
  expect(closed - answered).toBeGreaterThanOrEqual(250);
  expect(closed - answered).toBeLessThan(1_000);

  const slow = await fetch(`http://127.0.0.1:${port}/v1/slow`);
  expect(await slow.text()).toBe('a\nb\n');
});

test('a malformed % or request target is a 400 that says so, and nothing is logged as an error', async () => {
  const { log, lines } = capture();
  api = new ControlApi(
    [{ method: 'GET', path: '/v1/jobs/:name', handler: (req) => ({ json: { name: req.params.name } }) }],
    log,
  );
  const { port } = await api.listen('127.0.0.1:0', false);
  const bad = await fetch(`http://127.0.0.1:${port}/v1/jobs/%E0%A4%A`);
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: string }).error).toMatch(/malformed percent-encoding.*%25/);
  const target = await rawRequest(port, 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n');
  expect(target).toMatch(/^HTTP\/1.1 (400|404)/);
  expect((await fetch(`http://127.0.0.1:${port}/v1/jobs/ok`)).status).toBe(200);
  expect(lines.filter((l) => l.level >= 50)).toEqual([]);
});

test('a client that hangs up mid-body is logged at debug, not as an error', async () => {
  const { log, lines } = capture();
  let reached!: () => void;
  const inHandler = new Promise<void>((r) => {
    reached = r;
  });
  api = new ControlApi(
    [
      {
        method: 'POST',
        path: '/v1/jobs',
        handler: async (req) => {
          reached();
          return { json: await req.body() };
        },
      },
    ],
    log,
  );
  const { port } = await api.listen('127.0.0.1:0', false);
  const { socket } = await open(port);
  socket.write('POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"a":');
  await inHandler;
  socket.destroy();
  await new Promise((r) => setTimeout(r, 200));
  expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  expect(lines.some((l) => l.level === 20 && l.msg === 'control API client went away')).toBe(true);
});
