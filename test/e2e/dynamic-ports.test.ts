// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the ${...} here are job-file interpolations, not JavaScript.
/**
 * Dynamic ports with real agents: two copies of one job on one device get different host ports from its range,
 * both answer on theirs, every agent's catalog publishes those ports, `alloc status` shows them, and an agent
 * killed and started again adopts the copies with the ports they had.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { ServiceInfo } from '../../src/node/api/types.js';
import { tempDir, waitFor } from '../support/agents.js';
import {
  apiGet,
  killHard,
  type MeshdAgent,
  type MeshdOptions,
  restartMeshd,
  startMeshdMesh,
  stopMeshd,
} from '../support/meshd-mesh.js';
import { bundle, meshctl } from '../support/processes.js';

beforeAll(bundle, 60_000);

let agents: MeshdAgent[] = [];
let root: Awaited<ReturnType<typeof tempDir>> | undefined;
afterAll(async () => {
  await Promise.all(agents.map(stopMeshd));
  await root?.cleanup();
});

const HOSTS: Record<string, string> = { 'dyn-1': '127.0.0.21', 'dyn-2': '127.0.0.22' };
// A narrow range of its own, so the test is sure to see the range used, and not to meet other tests' ports.
const FROM = 20_000 + Math.floor(Math.random() * 11_000);
const RANGE = `${FROM}-${FROM + 19}`;

const ctl = (agent: MeshdAgent, ...args: string[]) =>
  meshctl(['--api', agent.api, '--data-dir', agent.dataDir, ...args]);

async function listings(): Promise<ServiceInfo[][]> {
  return Promise.all(
    agents.map(
      async (a) => JSON.parse((await ctl(a, '-o', 'json', 'service', 'list')).stdout) as ServiceInfo[],
    ),
  );
}

test('two copies on one device get their own dynamic ports, published everywhere, kept on adoption and restart', async () => {
  root = await tempDir('mycel-dynports-');
  const options: MeshdOptions = {
    driver: 'exec',
    heartbeatIntervalMs: 250,
    suspectAfterMs: 1_500,
    lostAfterMs: 5_000,
    listenHost: (name) => HOSTS[name]!,
    extraArgs: () => ['--port-range', RANGE],
  };
  ({ agents } = await startMeshdMesh(root.path, Object.keys(HOSTS), options));
  const server =
    "require('http').createServer((q, s) => q.url === '/exit' ? process.exit(3) : s.end(process.env.MYCEL_ALLOC_ID + ' ' + process.env.SELF))" +
    '.listen(Number(process.env.MYCEL_PORT_HTTP))';
  const file = join(root.path, 'web.json');
  await writeFile(
    file,
    JSON.stringify({
      name: 'web',
      driver: 'exec',
      count: 2,
      command: process.execPath,
      args: ['-e', server],
      env: { SELF: 'http://${node.name}:${alloc.port.http}/' },
      ports: [{ name: 'http' }],
      services: [{ name: 'web', port: 'http' }],
      constraints: [{ attribute: 'name', operator: '=', value: 'dyn-1' }],
      resources: { cpu: 10, memory: 16 },
      restart: { attempts: 3, delay: '1s' },
    }),
  );
  const run = await ctl(agents[0]!, 'job', 'run', file);
  expect(run.stderr).toBe('');

  let seen: ServiceInfo[][] = [];
  await waitFor(
    'every agent to list 2 instances of web',
    async () => {
      seen = await listings();
      return seen.every((v) => v[0]?.instances.length === 2);
    },
    40_000,
    () => JSON.stringify(seen),
  );
  for (const view of seen) expect(view).toEqual(seen[0]);
  const instances = seen[0]![0]!.instances;
  const ports = instances.map((i) => i.port);
  expect(new Set(ports).size).toBe(2);
  for (const instance of instances) {
    expect(instance.address).toBe(HOSTS['dyn-1']);
    expect(instance.port).toBeGreaterThanOrEqual(FROM);
    expect(instance.port).toBeLessThanOrEqual(FROM + 19);
    // Each copy answers on its own port, as itself.
    expect(await (await fetch(`http://127.0.0.1:${instance.port}/`)).text()).toBe(
      `${instance.allocId} http://dyn-1:${instance.port}/`,
    );
  }

  // The port is in the copy's replicated status, and `alloc status` shows it from any agent.
  const [first] = instances;
  const detail = await ctl(agents[1]!, 'alloc', 'status', first!.allocId);
  expect(detail.stdout).toMatch(new RegExp(`^Ports: +http=${first!.port}$`, 'm'));

  // A hard agent restart: the copies are adopted, not restarted, and keep their ports.
  const owner = agents[0]!;
  const before = await apiGet<{ allocations: { allocId: string; startedAt: number; ports?: unknown }[] }>(
    owner,
    '/v1/jobs/web',
  );
  await killHard(owner);
  await restartMeshd(owner, [], options);
  await waitFor('the restarted agent to answer', async () => (await listings()).length === agents.length);
  const after = await apiGet<typeof before>(owner, '/v1/jobs/web');
  const byId = new Map(after.allocations.map((a) => [a.allocId, a]));
  for (const a of before.allocations) expect(byId.get(a.allocId)).toMatchObject(a);
  await waitFor(
    'both agents to list the same 2 instances again',
    async () => {
      seen = await listings();
      return seen.every(
        (v) =>
          JSON.stringify(v[0]?.instances.map((i) => [i.allocId, i.port])) ===
          JSON.stringify(instances.map((i) => [i.allocId, i.port])),
      );
    },
    20_000,
    () => JSON.stringify(seen),
  );
  for (const instance of instances)
    expect(await (await fetch(`http://127.0.0.1:${instance.port}/`)).text()).toBe(
      `${instance.allocId} http://dyn-1:${instance.port}/`,
    );

  // The copy exits and its restart policy starts it again: it keeps its port.
  const [exiting] = instances;
  await fetch(`http://127.0.0.1:${exiting!.port}/exit`).catch(() => undefined);
  await waitFor(
    'the copy to run again after its restart',
    async () => {
      const job = await apiGet<{ allocations: { allocId: string; state: string; restarts: number }[] }>(
        owner,
        '/v1/jobs/web',
      );
      const a = job.allocations.find((x) => x.allocId === exiting!.allocId);
      return a?.state === 'running' && a.restarts === 1;
    },
    30_000,
  );
  await waitFor(
    'the restarted copy to answer on its port',
    async () =>
      (await fetch(`http://127.0.0.1:${exiting!.port}/`).then(
        (r) => r.text(),
        () => '',
      )) === `${exiting!.allocId} http://dyn-1:${exiting!.port}/`,
    10_000,
  );
  const restarted = await apiGet<{ allocations: { allocId: string; ports?: unknown }[] }>(
    owner,
    '/v1/jobs/web',
  );
  expect(restarted.allocations.find((a) => a.allocId === exiting!.allocId)?.ports).toEqual({
    http: exiting!.port,
  });
}, 120_000);
