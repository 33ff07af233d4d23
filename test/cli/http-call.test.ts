/**
 * meshctl's node:http call fails the way fetch did, because api-client's messages depend on it: whether a request
 * may have reached the agent is read from the socket error's code, and a timeout is a TimeoutError.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { httpCall } from '../../src/cli/http-call.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((done) => s.close(done));
  }
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<URL> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/status`);
}

const init = (signal = AbortSignal.timeout(5_000)) => ({ method: 'GET', headers: {}, signal });

test('an answer: status, headers and the body as a stream; a body is sent with its length', async () => {
  let received = '';
  const url = await serve((req, res) => {
    req.on('data', (d: Buffer) => (received += d.toString()));
    req.on('end', () => {
      res.writeHead(409, { 'content-type': 'application/json' });
      res.end(`{"got":${JSON.stringify(req.headers['content-length'])}}`);
    });
  });
  const answer = await httpCall(url, { ...init(), method: 'POST', body: '{"a":"é"}' });
  expect(answer).toMatchObject({ ok: false, status: 409 });
  expect(answer.headers.get('Content-Type')).toBe('application/json');
  expect(await new Response(answer.body).text()).toBe('{"got":"10"}');
  expect(received).toBe('{"a":"é"}');
});

test('nothing listening: the socket error is the cause, with its code', async () => {
  const url = await serve(() => {});
  const closed = servers.pop()!;
  await new Promise((done) => closed.close(done));
  const err = await httpCall(url, init()).catch((e: unknown) => e);
  expect((err as { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
});

test('no answer in time: a TimeoutError, and the connection is closed', async () => {
  let closed = false;
  const url = await serve((req) => req.socket.on('close', () => (closed = true)));
  const err = await httpCall(url, init(AbortSignal.timeout(100))).catch((e: unknown) => e);
  expect((err as Error).name).toBe('TimeoutError');
  await expect.poll(() => closed).toBe(true);
});

test('a signal that fires after the headers ends the body', async () => {
  const url = await serve((_req, res) => {
    res.writeHead(200);
    res.write('first');
  });
  const stop = new AbortController();
  const answer = await httpCall(url, init(stop.signal));
  const reader = answer.body.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toBe('first');
  stop.abort();
  await expect(reader.read()).rejects.toBeDefined();
});
