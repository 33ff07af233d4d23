/**
 * A docker copy with network bridge and a dynamic port: the device publishes its dynamic host port to the
 * container's port, and the copy's template is rendered into the directory mounted at /mycel, which busybox httpd
 * inside the container serves.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { JobDetail } from '../../src/node/api/types.js';
import { tempDir, waitFor } from '../support/agents.js';
import { dockerWithTestImage, removeByLabel, TEST_IMAGE } from '../support/docker.js';
import { apiGet, type MeshdAgent, startMeshdMesh, stopMeshd } from '../support/meshd-mesh.js';
import { bundle, meshctl } from '../support/processes.js';

beforeAll(bundle, 60_000);

let agents: MeshdAgent[] = [];
let root: Awaited<ReturnType<typeof tempDir>> | undefined;
afterAll(async () => {
  for (const agent of agents)
    await meshctl(['--api', agent.api, '--data-dir', agent.dataDir, 'job', 'stop', 'site']);
  await Promise.all(agents.map(stopMeshd));
  const docker = await dockerWithTestImage();
  for (const agent of agents) await removeByLabel(docker, `mycel.owner=${agent.peerId}`);
  await root?.cleanup();
}, 60_000);

const FROM = 20_000 + Math.floor(Math.random() * 11_000);

test('a bridge copy is published on its dynamic port and serves its rendered template from /mycel', async () => {
  await dockerWithTestImage();
  root = await tempDir('mycel-dynports-docker-');
  ({ agents } = await startMeshdMesh(root.path, ['dock-1'], {
    driver: 'docker',
    heartbeatIntervalMs: 250,
    suspectAfterMs: 1_500,
    lostAfterMs: 5_000,
    extraArgs: () => ['--port-range', `${FROM}-${FROM + 9}`],
  }));
  const [agent] = agents as [MeshdAgent];
  const file = join(root.path, 'site.json');
  await writeFile(
    file,
    JSON.stringify({
      name: 'site',
      driver: 'docker',
      image: TEST_IMAGE,
      command: 'sh',
      args: ['-c', 'exec httpd -f -p "$MYCEL_PORT_HTTP" -h "$MYCEL_ALLOC_DIR/local"'],
      network: 'bridge',
      ports: [{ name: 'http', container: 8080 }],
      resources: { cpu: 50, memory: 32 },
      templates: [
        {
          destination: 'local/index.html',
          data: '{{alloc.id}} on {{alloc.ports.http}}\n',
          changeMode: 'noop',
        },
      ],
    }),
  );
  const run = await meshctl([
    '--api',
    agent.api,
    '--data-dir',
    agent.dataDir,
    'job',
    'run',
    '--no-pin',
    file,
  ]);
  expect(run.code, run.stderr).toBe(0);
  let ports: Record<string, number> | undefined;
  let allocId = '';
  await waitFor(
    'the copy to run with a recorded port',
    async () => {
      const job = await apiGet<JobDetail>(agent, '/v1/jobs/site');
      const running = job.allocations.find((a) => a.state === 'running');
      ports = running?.ports;
      allocId = running?.allocId ?? '';
      return ports !== undefined;
    },
    60_000,
  );
  const port = ports!.http!;
  expect(port).toBeGreaterThanOrEqual(FROM);
  expect(port).toBeLessThanOrEqual(FROM + 9);
  let body = '';
  await waitFor(
    'httpd to answer on the published port',
    async () => {
      body = await fetch(`http://127.0.0.1:${port}/index.html`).then(
        (r) => r.text(),
        () => '',
      );
      return body !== '';
    },
    20_000,
  );
  expect(body).toBe(`${allocId} on ${port}\n`);
}, 120_000);
