/**
 * Issue 18: the bundle runs on the machine's own Node (20 here and in CI), not only on the Node 24 that
 * `npm run`/`npx` put first on PATH: `npm install -g` and a copied `dist/meshd.mjs` use the system runtime.
 * Through a real start, meshctl, a job on the exec driver with its logs, a job stop and a clean SIGTERM exit.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir, waitFor } from '../support/agents.js';
import { API_LOG_LINE } from '../support/local-meshd.js';
import { bundle, exited, MESHCTL, MESHD } from '../support/processes.js';

const SYSTEM_NODE = '/usr/bin/node';
const run = promisify(execFile);

beforeAll(bundle, 60_000);

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('dist/meshd.mjs and dist/meshctl.mjs run on the system Node: start, status, exec job, logs, SIGTERM', async () => {
  // Not a skip: CI has the system Node this test is about, and a silent skip would hide the regression.
  if (!existsSync(SYSTEM_NODE)) {
    throw new Error(
      `${SYSTEM_NODE} is missing: install the distribution's nodejs (CI's is 20) to run this test`,
    );
  }
  const { stdout: version } = await run(SYSTEM_NODE, ['--version']);
  expect(version.trim()).toMatch(/^v\d+\./);

  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const data = join(tmp.path, 'data');
  const agent = spawn(
    SYSTEM_NODE,
    [
      MESHD,
      ...['--data-dir', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'],
      ...['--driver', 'exec', '--registry-listen', 'off'],
      // A fresh agent holds new work back for one lost period: keep it short.
      ...['--heartbeat-interval-ms', '250', '--suspect-after-ms', '1250', '--lost-after-ms', '3000'],
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
    if (agent.exitCode === null && agent.signalCode === null) {
      agent.kill('SIGKILL');
      await exited(agent);
    }
  });
  let api = '';
  await waitFor(
    `meshd on ${SYSTEM_NODE} ${version.trim()} to serve its API`,
    () => {
      if (agent.exitCode !== null) throw new Error(`meshd exited ${agent.exitCode}: ${output}`);
      api = API_LOG_LINE.exec(output)?.[1] ?? '';
      return api !== '';
    },
    20_000,
    () => output,
  );

  const ctl = async (...args: string[]) => {
    const { stdout } = await run(SYSTEM_NODE, [MESHCTL, '--api', api, '--data-dir', data, ...args], {
      timeout: 20_000,
    });
    return stdout;
  };
  expect(await ctl('status')).toMatch(/Peers:\s+0 alive/);
  // YAML output loads the YAML printer from its own chunk (issue 22): a CommonJS package there lost its exports.
  expect(await ctl('-o', 'yaml', 'status')).toMatch(/^peerId: 12D3Koo/m);

  const job = join(tmp.path, 'hello.yaml');
  await writeFile(
    job,
    [
      'name: hello',
      'driver: exec',
      'command: /bin/sh',
      'args: ["-c", "echo hello from node20; sleep 300"]',
      'count: 1',
      '',
    ].join('\n'),
  );
  await ctl('job', 'run', job);
  let allocId = '';
  await waitFor(
    'the copy to start and print',
    async () => {
      allocId = /hello\.\d+\.\d+\.[0-9a-f]+/.exec(await ctl('alloc', 'list'))?.[0] ?? '';
      // Until the copy starts, `alloc logs` exits 1 saying so.
      const logs = allocId === '' ? '' : await ctl('alloc', 'logs', allocId).catch(() => '');
      return logs.includes('hello from node20');
    },
    20_000,
    () => output,
  );
  await ctl('job', 'stop', 'hello');
  await waitFor(
    'the copy to stop',
    () => /"event":"stopped"/.test(output),
    15_000,
    () => output,
  );

  agent.kill('SIGTERM');
  expect(await exited(agent)).toBe(0);
  expect(output).not.toMatch(/TypeError|is not a function|"level":50/);
}, 90_000);
