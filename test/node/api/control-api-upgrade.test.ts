import { pino } from 'pino';
import { afterAll, expect, test } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { ControlApi } from '../../../src/node/api/control-api.js';

/**
 * Routes that take their connection over (the WebSocket of `alloc exec`): the bearer token is checked as for any
 * call, unknown paths are refused, and an upgraded connection is not cut by the deadlines meant for HTTP requests.
 */
const echo = new WebSocketServer({ noServer: true });
const api = new ControlApi(
  [],
  pino({ level: 'silent' }),
  { token: 'sesame' },
  { headersTimeout: 200, idleTimeout: 200 },
);
api.addUpgrades([
  {
    path: '/v1/echo/:id',
    handle: (req, socket, head, params) =>
      echo.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send(`${params.id}:${m}`))),
  },
]);
afterAll(() => api.close());

function connect(url: string, token?: string): Promise<{ ws?: WebSocket; status?: number; body?: string }> {
  const ws = new WebSocket(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

test('upgrades are authenticated like calls, and outlive the HTTP deadlines', async () => {
  const { port } = await api.listen('127.0.0.1:0', false);
  const base = `ws://127.0.0.1:${port}`;
  expect(await connect(`${base}/v1/echo/x`)).toEqual({ status: 401, body: '{"error":"missing API token"}' });
  expect(await connect(`${base}/v1/echo/x`, 'wrong')).toEqual({
    status: 401,
    body: '{"error":"wrong API token"}',
  });
  expect(await connect(`${base}/v1/nope`, 'sesame')).toMatchObject({ status: 404 });
  const { ws } = await connect(`${base}/v1/echo/a%20b`, 'sesame');
  // Past the headers and idle deadlines of HTTP: still open.
  await new Promise((r) => setTimeout(r, 1_500));
  const answer = new Promise<string>((resolve, reject) => {
    ws!.once('message', (m) => resolve(m.toString()));
    ws!.once('close', () => reject(new Error('the connection was cut')));
  });
  ws!.send('hi');
  expect(await answer).toBe('a b:hi');
  ws!.close();
});
