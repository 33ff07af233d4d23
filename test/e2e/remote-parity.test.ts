import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ExecDriver } from '../../src/node/drivers/exec-driver.js';
import { tempDir, waitFor } from '../support/agents.js';
import { closedMesh } from '../support/local-meshd.js';
import { bundle, exited, meshctl, spawnMeshd } from '../support/processes.js';

/**
 * Two real meshd processes in a closed mesh and real meshctl processes, locally and as a remote light peer
 * (`MESH_REMOTE_TOKEN`): `alloc logs --tail`, `image list`, events of a copy another agent runs, and `job plan`.
 */
const cleanups: (() => Promise<void>)[] = [];
beforeAll(bundle, 120_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const SCRIPT = 'echo one; echo two; echo three; echo warn >&2; exec sleep 300';

function jobFile(count: number, role: string): string {
  return [
    'name: printer',
    'driver: exec',
    'command: /bin/sh',
    `args: ["-c", ${JSON.stringify(SCRIPT)}]`,
    `count: ${count}`,
    'resources: { cpu: 100, memory: 32 }',
    'constraints:',
    `  - { attribute: label.role, operator: "=", value: ${role} }`,
    '',
  ].join('\n');
}

async function startAgent(root: string, name: string, token: string) {
  const dataDir = join(root, name);
  const child = spawnMeshd(
    [
      ...['--name', name, '--data-dir', dataDir, '--label', `role=${name}`, '--driver', 'exec'],
      ...['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--registry-listen', 'off'],
      // A fresh agent holds new work back for one lost period: a short one keeps the test short.
      ...['--heartbeat-interval-ms', '250', '--suspect-after-ms', '1000', '--lost-after-ms', '2000'],
    ],
    { MESH_JOIN_TOKEN: token },
  );
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await exited(child);
  });
  let api = '';
  await waitFor(`${name}'s control API`, () => {
    api = /"api":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(child.output())?.[1] ?? '';
    return api !== '';
  });
  const ctl = (...args: string[]) =>
    meshctl(['--api', api, '--data-dir', dataDir, ...args], { MESH_HOME: join(root, 'nowhere') });
  const status = JSON.parse((await ctl('-o', 'json', 'status')).stdout);
  return { child, dataDir, ctl, peerId: status.peerId as string, address: status.addresses[0] as string };
}

test('remote meshctl: logs --tail, image list, the owner’s events, job plan', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const { key, init, tokenFor } = await closedMesh(tmp.path);
  expect(init.code).toBe(0);

  const a = await startAgent(tmp.path, 'alpha', await tokenFor('/ip4/127.0.0.1/tcp/9'));
  const b = await startAgent(tmp.path, 'beta', await tokenFor(a.address));
  cleanups.push(async () => {
    const driver = new ExecDriver({ owner: b.peerId, dataDir: b.dataDir });
    for (const handle of await driver.list()) await driver.stop(handle.allocId, { graceMs: 500 });
    await driver.close();
  });
  const remoteToken = await tokenFor(a.address);
  const remote = (...args: string[]) =>
    meshctl(['--api', 'http://127.0.0.1:9', '--data-dir', join(tmp.path, 'nowhere'), ...args], {
      MESH_REMOTE_TOKEN: remoteToken,
    });
  await waitFor('both nodes alive in alpha’s view', async () => {
    const nodes = JSON.parse((await a.ctl('-o', 'json', 'node', 'list')).stdout) as { liveness: string }[];
    return nodes.length === 2 && nodes.every((n) => n.liveness === 'alive');
  });

  // job plan of a new job, remotely: nothing is stored.
  const file = join(tmp.path, 'printer.yaml');
  await writeFile(file, jobFile(1, 'beta'));
  const plan = await remote('job', 'plan', file);
  expect(plan.stderr).toBe('');
  expect(plan.code).toBe(0);
  expect(plan.stdout).toBe('job "printer" would be created as version 1\nplacement: 1 of 1 copy placed\n');
  expect((await a.ctl('job', 'status', 'printer')).stderr).toMatch(/no job named "printer"/);

  expect((await a.ctl('--operator-key', key, 'job', 'run', file)).code).toBe(0);
  let allocId = '';
  await waitFor('the copy running on beta, its lines printed', async () => {
    const rows = JSON.parse((await a.ctl('-o', 'json', 'alloc', 'list', '--job', 'printer')).stdout);
    allocId = rows[0]?.allocId ?? '';
    if (!allocId) return false;
    const detail = JSON.parse((await b.ctl('-o', 'json', 'alloc', 'status', allocId)).stdout);
    return (
      detail.status?.state === 'running' && (await b.ctl('alloc', 'logs', allocId)).stdout.includes('three')
    );
  });

  // Logs without a follow, remotely; a follow is refused with what to do instead.
  const tail = await remote('alloc', 'logs', '--tail', '2', '--stdout', allocId);
  expect(tail).toMatchObject({ code: 0, stdout: 'two\nthree\n' });
  const follow = await remote('alloc', 'logs', '-f', allocId);
  expect(follow.code).toBe(1);
  expect(follow.stderr).toMatch(/-f is not served to remote meshctl.*drop -f/);

  // image list shows the agents only, not the remote meshctl linked to alpha.
  const images = await remote('-o', 'json', 'image', 'list');
  expect(images.code).toBe(0);
  const held = JSON.parse(images.stdout) as { name: string; images: unknown }[];
  expect(held.map((n) => n.name).sort()).toEqual(['alpha', 'beta']);
  expect((await remote('image', 'list')).stdout).not.toContain('(no answer)');

  // The copy runs on beta: alpha asks beta for its events, over its local API and for a remote meshctl.
  for (const status of [await a.ctl('alloc', 'status', allocId), await remote('alloc', 'status', allocId)]) {
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/Recent events\nWHEN +EVENT +REASON\n/);
    expect(status.stdout).toMatch(/\bstarted\b/);
  }

  // job plan of a change: the fields changed, and exit 2 when copies cannot be placed.
  await writeFile(file, jobFile(2, 'gamma'));
  const unplaceable = await remote('job', 'plan', file);
  expect(unplaceable.code).toBe(2);
  expect(unplaceable.stdout).toMatch(
    /^job "printer" would be updated to version 2 \(now version 1\)\nchanges:\n/,
  );
  expect(unplaceable.stdout).toContain('  ~ count: 1 => 2\n');
  expect(unplaceable.stdout).toMatch(/~ constraints: .*"beta".* => .*"gamma"/);
  // The running copy of version 1 stays until a new one is healthy (the update rules); slot 1 has nowhere to go.
  expect(unplaceable.stdout).toContain(
    'placement: 1 of 2 copies placed\n  slot 1 unplaced: 2 nodes evaluated; 2 nodes filtered: label.role = gamma\n',
  );
  expect(unplaceable.stderr).toMatch(/^meshctl: 1 of 2 copies of job "printer" could not be placed: /);
  expect(JSON.parse((await a.ctl('-o', 'json', 'job', 'status', 'printer')).stdout).version).toBe(1);
  await writeFile(file, jobFile(1, 'beta'));
  expect(await a.ctl('job', 'plan', file)).toMatchObject({
    code: 0,
    stdout:
      'job "printer" is unchanged (version 1): job run would change nothing\nplacement: 1 of 1 copy placed\n',
  });

  // The owner gone: alloc status still answers, within the protocol's deadline, and says why events are missing.
  b.child.kill('SIGKILL');
  await exited(b.child);
  const started = Date.now();
  const orphan = await a.ctl('alloc', 'status', allocId);
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(orphan.code).toBe(0);
  expect(orphan.stdout).toMatch(/Recent events\ncannot reach beta \(\S+\), the node that keeps them: /);
}, 120_000);
