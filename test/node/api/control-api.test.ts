import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, expect, test } from 'vitest';
import { isLoopbackHost } from '../../../src/lib/http-server.js';
import { API_TOKEN_FILE, loadOrCreateApiToken } from '../../../src/node/api/api-token.js';
import { ApiError, ControlApi } from '../../../src/node/api/control-api.js';

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

test('with a token, refuses a request without it or with a wrong one; /healthz stays open', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mycel-token-'));
  try {
    const token = await loadOrCreateApiToken(dir);
    expect((await stat(join(dir, API_TOKEN_FILE))).mode & 0o777).toBe(0o600);
    expect(await loadOrCreateApiToken(dir)).toBe(token); // the same token across restarts
    api = new ControlApi(
      [
        { method: 'GET', path: '/v1/status', handler: () => ({ json: { ok: true } }) },
        { method: 'GET', path: '/healthz', handler: () => ({ json: { ok: true } }) },
      ],
      log,
      { token },
    );
    const { port } = await api.listen('127.0.0.1:0', false);
    const url = `http://127.0.0.1:${port}/v1/status`;
    const missing = await fetch(url);
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error: string }).error).toMatch(
      /missing API token.*api\.token.*MESH_API_TOKEN/,
    );
    const wrong = await fetch(url, { headers: { authorization: `Bearer ${'0'.repeat(64)}` } });
    expect(wrong.status).toBe(401);
    const right = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(right.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await chmod(join(dir, API_TOKEN_FILE), 0o644);
    await expect(loadOrCreateApiToken(dir)).rejects.toThrow(
      /readable by other users \(mode 644\).*chmod 600/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
