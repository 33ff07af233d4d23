import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir, waitFor } from '../support/agents.js';
import { bundle, exited, meshctl, spawnMeshd } from '../support/processes.js';

/** A closed mesh from the command line: mesh init, a join token, a signed job, operators and revocation. */
const cleanups: (() => Promise<void>)[] = [];
beforeAll(bundle, 120_000);
afterAll(() => Promise.all(cleanups.map((c) => c())));

test('mesh init, meshd --join-token, the API token and operator-signed commands', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const meshDir = join(tmp.path, 'mesh');
  const key = join(meshDir, 'operator.key');
  expect((await meshctl(['mesh', 'init', '--dir', meshDir])).stdout).toMatch(/^mesh created in /);
  for (const file of ['mesh.key', 'operator.key']) {
    expect((await stat(join(meshDir, file))).mode & 0o777).toBe(0o600);
  }
  expect((await meshctl(['mesh', 'init', '--dir', meshDir])).stderr).toMatch(/already exists/);
  const token = (
    await meshctl(['mesh', 'join-token', '--dir', meshDir, '--bootstrap', '/ip4/127.0.0.1/tcp/4999'])
  ).stdout.trim();
  expect(token).toMatch(/^mycel1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);

  const damaged = spawnMeshd([
    '--data-dir',
    join(tmp.path, 'bad'),
    '--join-token',
    `${token.slice(0, -3)}xyz`,
  ]);
  expect(await exited(damaged)).toBe(2);
  expect(damaged.output()).toMatch(/join token is damaged/);

  const dataDir = join(tmp.path, 'data');
  const agent = spawnMeshd(
    ['--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--driver', 'none'],
    { MESH_JOIN_TOKEN: token },
  );
  try {
    let api = '';
    await waitFor('the control API address in the log', () => {
      api = /"api":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(agent.output())?.[1] ?? '';
      return api !== '';
    });
    expect(agent.output()).toMatch(/"mesh":"closed"/);
    expect(agent.output()).not.toContain(token.split('.')[1]!.slice(0, 20));
    const ctl = (...args: string[]) =>
      meshctl(['--api', api, '--data-dir', dataDir, ...args], { MESH_HOME: join(tmp.path, 'nowhere') });

    const noToken = await meshctl(['--api', api, '--data-dir', join(tmp.path, 'nowhere'), 'status']);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/missing API token/);
    expect((await ctl('status')).code).toBe(0);

    const job = join(tmp.path, 'web.yaml');
    await writeFile(job, ['name: web', 'driver: exec', 'command: /bin/sleep', 'count: 1', ''].join('\n'));
    const unsigned = await ctl('job', 'run', job);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toMatch(/operator key.*--operator-key FILE or set MESH_OPERATOR_KEY/);
    // Relay-only: stored, placed nowhere, exit 2.
    const signed = await ctl('--operator-key', key, 'job', 'run', job);
    expect(signed.code).toBe(2);
    expect(signed.stdout).toMatch(/^job "web" version 1 submitted\nplacement: 0 of 1 copy placed\n/);
    const status = JSON.parse((await ctl('-o', 'json', 'job', 'status', 'web')).stdout);
    // Relay-only (`--driver none`): wanted running, placed nowhere.
    expect(status).toMatchObject({ status: 'pending', desired: 'running', version: 1 });
    expect(status.submittedBy).toBe(
      JSON.parse(await readFile(join(meshDir, 'mesh.json'), 'utf8')).operators[0],
    );

    await chmod(key, 0o644);
    expect((await ctl('--operator-key', key, 'job', 'stop', 'web')).stderr).toMatch(
      /operator key .* is readable by other users \(mode 644\); run `chmod 600/,
    );
    await chmod(key, 0o600);
    expect((await ctl('--operator-key', key, 'job', 'stop', 'web')).stdout).toBe('job "web" stopped\n');

    const second = join(tmp.path, 'second.key');
    const secondId = (await ctl('operator', 'key-gen', second)).stdout.trim();
    expect((await ctl('--operator-key', key, 'operator', 'add', secondId)).stdout).toMatch(/now trusted/);
    expect((await ctl('--operator-key', second, 'node', 'revoke', secondId)).stdout).toMatch(/revoked/);
    const trust = JSON.parse((await ctl('-o', 'json', 'operator', 'list')).stdout);
    expect(trust.operators).toContain(secondId);
    expect(trust.revoked).toEqual([secondId]);

    // A laptop with the mesh key and an operator key, but no access to the device: meshctl as a light peer.
    const address = JSON.parse((await ctl('-o', 'json', 'status')).stdout).addresses[0];
    const remoteToken = (
      await meshctl(['mesh', 'join-token', '--dir', meshDir, '--bootstrap', address])
    ).stdout.trim();
    const remote = (...args: string[]) =>
      meshctl(['--api', 'http://127.0.0.1:9', '--data-dir', join(tmp.path, 'nowhere'), ...args], {
        MESH_REMOTE_TOKEN: remoteToken,
      });
    expect(JSON.parse((await remote('-o', 'json', 'status')).stdout).name).toBe(
      JSON.parse((await ctl('-o', 'json', 'status')).stdout).name,
    );
    expect((await remote('--operator-key', key, 'job', 'run', job)).stdout).toMatch(
      /^job "web" version 1 started again\nplacement: 0 of 1 copy placed\n/,
    );
    const outsider = await meshctl(['mesh', 'init', '--dir', join(tmp.path, 'other')]);
    expect(outsider.code).toBe(0);
    const foreign = (
      await meshctl(['mesh', 'join-token', '--dir', join(tmp.path, 'other'), '--bootstrap', address])
    ).stdout.trim();
    const refused = await meshctl(['-o', 'json', 'status'], { MESH_REMOTE_TOKEN: foreign });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/cannot reach the mesh/);
  } finally {
    agent.kill('SIGTERM');
  }
  expect(await exited(agent)).toBe(0);
}, 120_000);
