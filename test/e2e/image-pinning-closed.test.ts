import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir } from '../support/agents.js';
import { closedMesh, startLocalMeshd } from '../support/local-meshd.js';
import { bundle, exited } from '../support/processes.js';
import { imageConfig, pushImage, startUpstreamRegistry, type UpstreamRegistry } from '../support/registry.js';

/** In a closed mesh the operator signs the pinned spec: what is stored, under the operator's key, is the digest. */
const cleanups: (() => Promise<void>)[] = [];
let upstream: UpstreamRegistry;
beforeAll(async () => {
  await bundle();
  upstream = await startUpstreamRegistry();
}, 120_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await upstream?.stop();
});

test('job run in a closed mesh signs repo:tag@sha256', async () => {
  const layer = new TextEncoder().encode('not a real layer; never pulled');
  const pushed = await pushImage(upstream.direct, 'mycel/signed', '2', imageConfig([layer]), [layer]);
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const { key, tokenFor } = await closedMesh(tmp.path);
  const token = await tokenFor();
  const closed = await startLocalMeshd(
    join(tmp.path, 'agent'),
    ['--driver', 'none', '--registry-listen', 'off'],
    { MESH_JOIN_TOKEN: token },
  );
  cleanups.push(async () => {
    closed.agent.kill('SIGKILL');
    await exited(closed.agent);
  });
  const file = join(tmp.path, 'app.yaml');
  const image = `${upstream.host}/mycel/signed:2`;
  await writeFile(file, `name: app\ndriver: docker\nimage: ${image}\ncount: 0\n`);
  const run = await closed.ctl('--operator-key', key, 'job', 'run', file);
  expect(run.stderr).toBe('');
  expect(run.stdout).toMatch(/^job "app" version 1 submitted/);
  const status = JSON.parse((await closed.ctl('-o', 'json', 'job', 'status', 'app')).stdout);
  // Only an operator-signed spec is stored in a closed mesh: the signature covers the digest.
  expect(status.spec.image).toBe(`${image}@${pushed.manifest.digest}`);
}, 60_000);
