import { pino } from 'pino';
import { afterEach, expect, test } from 'vitest';
import { ApiError, ControlApi, isLoopbackHost } from '../../src/node/control-api.js';

const log = pino({ level: 'silent' });
let api: ControlApi | undefined;
afterEach(() => api?.close());

test('refuses a non-loopback address unless allowed', async () => {
  api = new ControlApi([], log);
  await expect(api.listen('0.0.0.0:0', false)).rejects.toThrow(/not a loopback address.*--allow-remote-api/);
  expect(isLoopbackHost('127.0.0.2')).toBe(true);
  expect(isLoopbackHost('[::1]')).toBe(true);
  expect(isLoopbackHost('10.0.0.1')).toBe(false);
});

test('routes, params, errors and body limits', async () => {
  api = new ControlApi(
    [
      { method: 'GET', path: '/v1/things/:name', handler: (req) => ({ json: { name: req.params.name } }) },
      {
        method: 'POST',
        path: '/v1/things',
        handler: async (req) => {
          const body = (await req.body()) as { name?: string };
          if (!body?.name) throw new ApiError(400, 'name is required');
          return { json: body, status: 201 };
        },
      },
    ],
    log,
  );
  const { port } = await api.listen('127.0.0.1:0', false);
  const base = `http://127.0.0.1:${port}`;
  expect(await (await fetch(`${base}/v1/things/a%20b`)).json()).toEqual({ name: 'a b' });
  const missing = await fetch(`${base}/v1/nothing`);
  expect(missing.status).toBe(404);
  expect(await missing.json()).toEqual({ error: 'no such endpoint: /v1/nothing' });
  expect((await fetch(`${base}/v1/things/x`, { method: 'DELETE' })).status).toBe(405);
  const created = await fetch(`${base}/v1/things`, { method: 'POST', body: JSON.stringify({ name: 'n' }) });
  expect(created.status).toBe(201);
  const invalid = await fetch(`${base}/v1/things`, { method: 'POST', body: '{' });
  expect(invalid.status).toBe(400);
  expect(await invalid.json()).toEqual({ error: 'request body is not valid JSON' });
  const huge = await fetch(`${base}/v1/things`, { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024) }).catch(
    () => undefined,
  );
  if (huge) expect(huge.status).toBe(413);
});
