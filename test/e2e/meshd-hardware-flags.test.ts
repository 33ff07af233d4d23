/** The real meshd: --device and --allow-host-path reach its node record, and a bad path is refused at start. */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir } from '../support/agents.js';
import { startLocalMeshd } from '../support/local-meshd.js';
import { bundle, exited, spawnMeshd } from '../support/processes.js';

beforeAll(bundle, 60_000);

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('meshctl node status shows the devices and host paths meshd was started with', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const allowed = join(tmp.path, 'sensor');
  const meshd = await startLocalMeshd(join(tmp.path, 'data'), [
    ...['--name', 'gw-hw', '--driver', 'exec', '--registry-listen', 'off'],
    ...['--device', '/dev/zero', '--device', '/dev/mycel-absent', '--allow-host-path', allowed],
  ]);
  cleanups.push(async () => {
    meshd.agent.kill('SIGTERM');
    await exited(meshd.agent);
  });
  let output = '';
  const end = Date.now() + 15_000;
  while (!output.includes('/dev/zero') && Date.now() < end) {
    output = (await meshd.ctl('node', 'status', 'gw-hw')).stdout;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(output).toMatch(/Devices: .*\/dev\/zero/);
  // Named but not present: a record must not promise what is not there.
  expect(output).not.toContain('/dev/mycel-absent');
  // And the operator is told, in case it was a typo.
  expect(meshd.agent.output()).toContain('--device /dev/mycel-absent does not exist here');
  expect(meshd.agent.output()).not.toContain('--device /dev/zero does not');
  expect(output).toMatch(new RegExp(`Host paths:\\s+${allowed}`));
}, 60_000);

test('a relative --allow-host-path stops meshd at start with the flag named', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const agent = spawnMeshd([
    ...['--data-dir', join(tmp.path, 'data'), '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'],
    ...['--driver', 'none', '--registry-listen', 'off', '--allow-host-path', 'var/lib/sensor'],
  ]);
  const code = await Promise.race([
    exited(agent),
    new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000)),
  ]);
  if (code === 'running') agent.kill('SIGKILL');
  expect(code).not.toBe(0);
  expect(code).not.toBe('running');
  expect(agent.output()).toMatch(/--allow-host-path .*var\/lib\/sensor: must be an absolute path/);
}, 30_000);
