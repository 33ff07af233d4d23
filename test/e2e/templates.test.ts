// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the ${...} here are job-file interpolations, not JavaScript.
/**
 * Templates with real agents: a copy on one device renders a file listing another job's service instances (from
 * its own catalog), the file is rendered again when an instance appears and when it goes, and each change sends
 * the copy its changeSignal.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { JobDetail } from '../../src/node/api/types.js';
import { tempDir, waitFor } from '../support/agents.js';
import { apiGet, type MeshdAgent, startMeshdMesh, stopMeshd } from '../support/meshd-mesh.js';
import { bundle, meshctl } from '../support/processes.js';

beforeAll(bundle, 60_000);

let agents: MeshdAgent[] = [];
let root: Awaited<ReturnType<typeof tempDir>> | undefined;
afterAll(async () => {
  await Promise.all(agents.map(stopMeshd));
  await root?.cleanup();
});

const HOSTS: Record<string, string> = { 'tpl-1': '127.0.0.31', 'tpl-2': '127.0.0.32' };
const FROM = 20_000 + Math.floor(Math.random() * 11_000);

const ctl = (agent: MeshdAgent, ...args: string[]) =>
  meshctl(['--api', agent.api, '--data-dir', agent.dataDir, ...args]);

const read = (path: string) => readFile(path, 'utf8').catch(() => '');

test('a template lists a service, follows its instances and signals the copy on each change', async () => {
  root = await tempDir('mycel-templates-');
  ({ agents } = await startMeshdMesh(root.path, Object.keys(HOSTS), {
    driver: 'exec',
    heartbeatIntervalMs: 250,
    suspectAfterMs: 1_500,
    lostAfterMs: 5_000,
    listenHost: (name) => HOSTS[name]!,
    extraArgs: () => ['--port-range', `${FROM}-${FROM + 19}`],
  }));
  const [watcherNode, webNode] = agents as [MeshdAgent, MeshdAgent];
  const watcher = join(root.path, 'watcher.json');
  await writeFile(
    watcher,
    JSON.stringify({
      name: 'watcher',
      driver: 'exec',
      command: '/bin/sh',
      args: ['-c', "trap 'echo hup >> hups' HUP; while true; do sleep 0.1; done"],
      constraints: [{ attribute: 'name', operator: '=', value: 'tpl-1' }],
      resources: { cpu: 10, memory: 16 },
      templates: [
        {
          destination: 'local/web.txt',
          data: 'web:{{#services.web}} {{address}}:{{port}}{{/services.web}}\nself: {{node.name}} {{job.name}}\n',
          changeMode: 'signal',
          changeSignal: 'SIGHUP',
        },
      ],
    }),
  );
  expect((await ctl(watcherNode, 'job', 'run', watcher)).stderr).toBe('');
  let dir = '';
  await waitFor(
    'the watcher to run',
    async () => {
      const job = await apiGet<JobDetail>(watcherNode, '/v1/jobs/watcher');
      const running = job.allocations.find((a) => a.state === 'running');
      if (running) dir = join(watcherNode.dataDir, 'alloc', running.allocId);
      return running !== undefined;
    },
    30_000,
  );
  const file = join(dir, 'local', 'web.txt');
  expect(await read(file)).toBe('web:\nself: tpl-1 watcher\n');

  // An instance appears on the other device: the file names it, and the copy got SIGHUP.
  const web = join(root.path, 'web.json');
  const server =
    "require('http').createServer((q, s) => s.end('ok')).listen(Number(process.env.MYCEL_PORT_HTTP))";
  await writeFile(
    web,
    JSON.stringify({
      name: 'web',
      driver: 'exec',
      command: process.execPath,
      args: ['-e', server],
      ports: [{ name: 'http' }],
      services: [{ name: 'web', port: 'http' }],
      constraints: [{ attribute: 'name', operator: '=', value: 'tpl-2' }],
      resources: { cpu: 10, memory: 16 },
    }),
  );
  expect((await ctl(watcherNode, 'job', 'run', web)).stderr).toBe('');
  let port = 0;
  await waitFor(
    'the template to list the web instance',
    async () => {
      const match = /^web: 127\.0\.0\.32:(\d+)$/m.exec(await read(file));
      port = Number(match?.[1] ?? 0);
      return port > 0;
    },
    30_000,
    () => `${file}: ${JSON.stringify(dir)}`,
  );
  expect(port).toBeGreaterThanOrEqual(FROM);
  const webJob = await apiGet<JobDetail>(webNode, '/v1/jobs/web');
  expect(webJob.allocations[0]?.ports).toEqual({ http: port });
  await waitFor('the watcher to get SIGHUP', async () => (await read(join(dir, 'hups'))) === 'hup\n', 10_000);

  // It goes: the file is rendered again without it, and a second SIGHUP arrives.
  expect((await ctl(watcherNode, 'job', 'stop', 'web')).code).toBe(0);
  await waitFor(
    'the template to drop the web instance',
    async () => (await read(file)).startsWith('web:\n'),
    30_000,
  );
  await waitFor('a second SIGHUP', async () => (await read(join(dir, 'hups'))) === 'hup\nhup\n', 10_000);
  // Signalled, never restarted.
  const after = await apiGet<JobDetail>(watcherNode, '/v1/jobs/watcher');
  expect(after.allocations.map((a) => [a.state, a.restarts])).toEqual([['running', 0]]);
}, 120_000);
