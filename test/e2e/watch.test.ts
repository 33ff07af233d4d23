import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import { ControlApi } from '../../src/node/api/control-api.js';
import { joinAddress, startAgent, tempDir, testConfig, waitFor } from '../support/agents.js';
import { bundle, MESHCTL, meshctl } from '../support/processes.js';

/** `--watch` on `node list`: redraws in place, shows a device that joins, and ends cleanly on Ctrl-C. */
const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
beforeAll(bundle, 60_000);
afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  for (const c of cleanups.reverse()) await c();
});

const CLEAR = '\x1b[H\x1b[2J';

async function agent(name: string): Promise<Agent> {
  const dir = await tempDir();
  cleanups.push(dir.cleanup);
  const join = agents[0] ? [joinAddress(agents[0])] : [];
  const started = await startAgent(testConfig({ dataDir: dir.path, name, join }));
  agents.push(started);
  return started;
}

test('node list --watch redraws until Ctrl-C', async () => {
  const a = await agent('wa');
  const api = new ControlApi(a.routes(), pino({ level: 'silent' }));
  const { port } = await api.listen('127.0.0.1:0', false);
  cleanups.push(() => api.close());
  const url = `http://127.0.0.1:${port}`;

  const child = spawn(
    process.execPath,
    [MESHCTL, '--api', url, 'node', 'list', '--watch', '--interval', '500ms'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
  const frames = () => out.split(CLEAR).slice(1);
  await waitFor('two redraws', () => frames().length >= 2);
  expect(frames()[0]).toMatch(/^Every 0\.5s: meshctl .*node list --watch/);
  expect(frames()[0]).toContain('wa (self)');
  expect(frames()[0]).not.toContain('wb');
  await agent('wb');
  await waitFor('the device that joined, in a later redraw', () => frames().at(-1)?.includes('wb') === true);
  child.kill('SIGINT');
  expect(await exit).toBe(0);

  const json = await meshctl(['--api', url, '-o', 'json', 'alloc', 'list', '--watch']);
  expect(json.code).toBe(2);
  expect(json.stderr).toMatch(/--watch redraws a table; for a stream of changes use meshctl events -o json/);
  const interval = await meshctl(['--api', url, 'job', 'status', 'x', '--watch', '--interval', '2']);
  expect(interval.code).toBe(2);
  expect(interval.stderr).toMatch(/--interval: "2" has no unit/);
}, 60_000);
