import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir, waitFor } from '../support/agents.js';
import { API_LOG_LINE, startLocalMeshd } from '../support/local-meshd.js';
import { bundle, exited, MESHD, meshctl } from '../support/processes.js';

beforeAll(bundle, 60_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function openIdle(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('connect', () => resolve({ socket, closed }));
    // Refused at accept can mean reset before 'connect' is seen: that counts as closed too.
    socket.once('close', () => resolve({ socket, closed }));
  });
}

test('a request target that is no URL (`//[`) is answered, and the agent keeps running', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const { agent, api } = await startLocalMeshd(join(tmp.path, 'data'), [
    '--driver',
    'none',
    '--registry-listen',
    'off',
  ]);
  cleanups.push(async () => {
    agent.kill('SIGTERM');
    await exited(agent);
  });
  const port = Number(new URL(api).port);
  const answer = await new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('GET //[ HTTP/1.1\r\nHost: x\r\n\r\n'));
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString();
      socket.end();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
  });
  // Without the token the answer is 401; what matters is that there is one.
  expect(answer).toMatch(/^HTTP\/1\.1 401 /);
  await new Promise((r) => setTimeout(r, 300));
  expect(agent.exitCode).toBeNull();
  expect((await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(1_000) })).status).toBe(200);
}, 30_000);

test('more idle sockets than descriptors: /healthz answers within 1 s, jobs are still stored, idle ones close', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const dataDir = join(tmp.path, 'data');
  // 256 descriptors: without a cap, the 400 idle sockets below would take every one of them.
  const agent = spawn(
    'prlimit',
    [
      '--nofile=256:256',
      process.execPath,
      MESHD,
      ...['--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'],
      ...['--driver', 'none', '--registry-listen', 'off'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  agent.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  agent.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  cleanups.push(async () => {
    agent.kill('SIGTERM');
    await exited(agent);
  });
  let api = '';
  await waitFor(
    'the control API address in the log',
    () => {
      api = API_LOG_LINE.exec(output)?.[1] ?? '';
      return api !== '';
    },
    15_000,
    () => `meshd said: ${output.slice(-2_000)}`,
  );
  const port = Number(new URL(api).port);

  const idle = await Promise.all(Array.from({ length: 400 }, () => openIdle(port)));
  cleanups.push(() => {
    for (const c of idle) c.socket.destroy();
  });
  const opened = Date.now();

  const asked = Date.now();
  const health = await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(1_000) });
  expect(health.status).toBe(200);
  expect(Date.now() - asked).toBeLessThan(1_000);

  const job = join(tmp.path, 'web.yaml');
  await writeFile(job, ['name: web', 'driver: exec', 'command: /bin/sleep', 'count: 1', ''].join('\n'));
  const run = await meshctl(['--api', api, '--data-dir', dataDir, 'job', 'run', job]);
  // Relay-only: the job is stored, placed nowhere, and `job run` says so with exit 2.
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(/job "web" is stored, but 1 of 1 copies cannot be placed/);
  expect(run.stdout).toMatch(/^job "web" version 1 submitted\nplacement: 0 of 1 copy placed\n/);
  expect(output).not.toMatch(/EMFILE/);

  // The header timeout (10 s) closes every idle socket the cap let in.
  await Promise.all(idle.map((c) => c.closed));
  expect(Date.now() - opened).toBeLessThan(13_000);
}, 40_000);
