import { execFile } from 'node:child_process';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecResult } from '../../../src/node/drivers/driver.js';
import { type ExecFn, runCheck } from '../../../src/node/workloads/health-check.js';

let http: HttpServer;
let httpPort: number;
let silent: Server;
let silentPort: number;

function portOf(server: Server | HttpServer): number {
  return (server.address() as { port: number }).port;
}

beforeAll(async () => {
  http = createHttpServer((req, res) => {
    const status = Number(req.url?.slice(1)) || 200;
    res.writeHead(status, status === 302 ? { location: 'http://192.0.2.1/' } : {});
    res.end('body');
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  httpPort = portOf(http);
  // Accepts connections, never answers HTTP.
  silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentPort = portOf(silent);
});

afterAll(() => {
  http.closeAllConnections();
  http.close();
  silent.close();
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = portOf(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const hostExec: ExecFn = ([file, ...args], signal) =>
  new Promise<ExecResult>((resolve, reject) => {
    execFile(file!, args, { signal }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ exitCode: err ? (err.code as number) : 0, output: stdout + stderr });
    });
  });

describe('http checks', () => {
  it('are healthy on 2xx and 3xx (without following the redirect) and not otherwise', async () => {
    const check = (path: string) => runCheck({ type: 'http', port: httpPort, path, timeoutMs: 1_000 });
    expect(await check('/200')).toEqual({ healthy: true });
    expect(await check('/204')).toEqual({ healthy: true });
    expect(await check('302')).toEqual({ healthy: true });
    expect(await check('/404')).toEqual({ healthy: false, reason: 'HTTP 404' });
    expect(await check('/503')).toEqual({ healthy: false, reason: 'HTTP 503' });
  });

  it('give up at the timeout when the server never answers', async () => {
    const t0 = performance.now();
    const result = await runCheck({ type: 'http', port: silentPort, path: '/', timeoutMs: 200 });
    expect(result).toEqual({ healthy: false, reason: 'no answer within 200 ms' });
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it('report a refused connection', async () => {
    const result = await runCheck({ type: 'http', port: await closedPort(), path: '/', timeoutMs: 1_000 });
    expect(result).toEqual({ healthy: false, reason: 'ECONNREFUSED' });
  });
});

describe('tcp checks', () => {
  it('are healthy when the port accepts and unhealthy when it refuses', async () => {
    expect(await runCheck({ type: 'tcp', port: silentPort, timeoutMs: 1_000 })).toEqual({ healthy: true });
    const refused = await runCheck({ type: 'tcp', port: await closedPort(), timeoutMs: 1_000 });
    expect(refused).toMatchObject({ healthy: false, reason: expect.stringContaining('ECONNREFUSED') });
  });

  it('stop when the caller cancels', async () => {
    const abort = new AbortController();
    abort.abort();
    const result = await runCheck(
      { type: 'tcp', port: silentPort, timeoutMs: 1_000 },
      { signal: abort.signal },
    );
    expect(result).toEqual({ healthy: false, reason: 'check cancelled' });
  });
});

describe('exec checks', () => {
  it('are healthy on exit 0 and report the code and output otherwise', async () => {
    const check = (command: string[]) =>
      runCheck({ type: 'exec', command, timeoutMs: 2_000 }, { exec: hostExec });
    expect(await check(['true'])).toEqual({ healthy: true });
    expect(await check(['sh', '-c', 'echo not ready; exit 2'])).toEqual({
      healthy: false,
      reason: 'exit code 2: not ready',
    });
  });

  it('time out even when the runtime never returns', async () => {
    const stuck: ExecFn = () => new Promise(() => {});
    const t0 = performance.now();
    const result = await runCheck({ type: 'exec', command: ['x'], timeoutMs: 150 }, { exec: stuck });
    expect(result).toEqual({ healthy: false, reason: 'no answer within 150 ms' });
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it('are unhealthy, not crashing, without a way to run the command', async () => {
    const result = await runCheck({ type: 'exec', command: ['true'], timeoutMs: 100 });
    expect(result).toMatchObject({ healthy: false, reason: expect.stringContaining('exec') });
  });
});
