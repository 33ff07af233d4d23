// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the ${...} here are job-file interpolations, not JavaScript.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { VarInfo, VarSealed } from '../../src/node/api/types.js';
import { ExecDriver } from '../../src/node/drivers/exec-driver.js';
import { tempDir, waitFor } from '../support/agents.js';
import { closedMesh, startLocalMeshd } from '../support/local-meshd.js';
import { bundle, exited, MESHCTL, meshctl, spawnMeshd } from '../support/processes.js';

/**
 * Issue 20, variables and secrets, with three real meshd processes in a closed mesh and real meshctl: a variable
 * put through meshctl reaches the environment of a granted job's copies (alpha, beta), is opened by meshctl with
 * the operator key alone, is never in clear on any agent's disk or in any log, stays ciphertext on a device
 * the job does not fit (gamma: no seal for it, its API says it cannot open it), and a device revoked before
 * the next version holds no seal of it; the copies restart with the new value.
 */
const cleanups: (() => Promise<void>)[] = [];
beforeAll(bundle, 120_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function startAgent(root: string, name: string, token: string, role = name) {
  const dataDir = join(root, name);
  const child = spawnMeshd(
    [
      ...['--name', name, '--data-dir', dataDir, '--label', `role=${role}`, '--driver', 'exec'],
      ...['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--registry-listen', 'off'],
      ...['--heartbeat-interval-ms', '250', '--suspect-after-ms', '1000', '--lost-after-ms', '2000'],
      ...['--log-level', 'debug'],
    ],
    { MESH_JOIN_TOKEN: token },
  );
  let api = '';
  await waitFor(`${name}'s control API`, () => {
    api = /"api":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(child.output())?.[1] ?? '';
    return api !== '';
  });
  const ctl = (...args: string[]) =>
    meshctl(['--api', api, '--data-dir', dataDir, ...args], { MESH_HOME: join(root, 'nowhere') });
  const status = JSON.parse((await ctl('-o', 'json', 'status')).stdout);
  const agent = {
    child,
    api,
    dataDir,
    ctl,
    name,
    peerId: status.peerId as string,
    address: status.addresses[0] as string,
  };
  cleanups.push(async () => {
    const driver = new ExecDriver({ owner: agent.peerId, dataDir });
    for (const handle of await driver.list()) await driver.stop(handle.allocId, { graceMs: 200 });
    await driver.close();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
  });
  return agent;
}

type TestAgent = Awaited<ReturnType<typeof startAgent>>;

/** The sha256 each of the agent's copies wrote of the $SECRET it was started with. */
async function seen(agent: TestAgent): Promise<string[]> {
  const root = join(agent.dataDir, 'alloc');
  const out: string[] = [];
  for (const dir of await readdir(root).catch(() => [])) {
    const text = await readFile(join(root, dir, 'seen'), 'utf8').catch(() => '');
    if (text) out.push(text.split(' ')[0]!.trim());
  }
  return out;
}

/** Every file under `dir` whose bytes contain `needle`. */
async function filesHolding(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const bytes = await readFile(path).catch(() => Buffer.alloc(0));
    if (bytes.includes(needle)) found.push(path);
  }
  return found;
}

const JOB = [
  'name: reader',
  'type: system',
  'driver: exec',
  'command: /bin/sh',
  // The copy writes only a hash of what it got: the value itself must be nowhere on disk.
  `args: ["-c", 'printf %s "$SECRET" | sha256sum > "$MYCEL_ALLOC_DIR/seen"; exec sleep 300']`,
  'vars: [app/db]',
  'env:',
  '  SECRET: ${var:app/db:password}',
  'resources: { cpu: 50, memory: 16 }',
  'constraints:',
  '  - { attribute: label.role, operator: in, value: [alpha, beta] }',
  '',
].join('\n');

test('a variable reaches granted copies only, never in clear on disk or in logs; a revoked device misses the next version', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const { key, init, tokenFor } = await closedMesh(tmp.path);
  expect(init.code).toBe(0);
  const alpha = await startAgent(tmp.path, 'alpha', await tokenFor('/ip4/127.0.0.1/tcp/9'));
  const beta = await startAgent(tmp.path, 'beta', await tokenFor(alpha.address));
  const gamma = await startAgent(tmp.path, 'gamma', await tokenFor(alpha.address));
  const agents = [alpha, beta, gamma];
  await waitFor(
    'every agent sees three nodes',
    async () => {
      const counts = await Promise.all(
        agents.map(async (a) => JSON.parse((await a.ctl('-o', 'json', 'node', 'list')).stdout).length),
      );
      return counts.every((n) => n === 3);
    },
    30_000,
  );

  const first = `first-${randomBytes(12).toString('hex')}`;
  const second = `second-${randomBytes(12).toString('hex')}`;
  const secretFile = join(tmp.path, 'password.txt');
  await writeFile(secretFile, `${first}\n`, { mode: 0o600 });
  const put = await alpha.ctl(
    '--operator-key',
    key,
    'var',
    'put',
    'app/db',
    `password=@${secretFile}`,
    'user=app',
  );
  expect(put.stderr).toBe('');
  expect(put.stdout).toMatch(/^app\/db: version 1 added, sealed to 1 operator\(s\) and 0 device\(s\)/);

  const jobFile = join(tmp.path, 'reader.yaml');
  await writeFile(jobFile, JOB);
  const run = await alpha.ctl('--operator-key', key, 'job', 'run', jobFile);
  expect(run.stderr).toBe('');
  await waitFor(
    'alpha and beta run copies that got the value',
    async () => {
      const [a, b] = await Promise.all([seen(alpha), seen(beta)]);
      return a.includes(sha256(first)) && b.includes(sha256(first));
    },
    30_000,
  );

  // The operator opens it with its key alone; the agent only ever answered ciphertext.
  const got = await alpha.ctl('--operator-key', key, '-o', 'json', 'var', 'get', 'app/db');
  expect(got.stderr).toBe('');
  expect(JSON.parse(got.stdout).values).toEqual({ password: first, user: 'app' });
  const withoutKey = await alpha.ctl('--operator-key', join(tmp.path, 'no-such.key'), 'var', 'get', 'app/db');
  expect(withoutKey.code).not.toBe(0);

  // gamma holds the ciphertext but no seal: its own API says it cannot open it.
  await waitFor('gamma holds the variable', async () => {
    const list = JSON.parse((await gamma.ctl('-o', 'json', 'var', 'list')).stdout) as VarInfo[];
    return list.length === 1;
  });
  const onGamma = JSON.parse((await gamma.ctl('-o', 'json', 'var', 'list')).stdout) as VarInfo[];
  expect(onGamma[0]!.thisDevice).toBe('not-sealed');
  expect(onGamma[0]!.sealedTo).not.toContain(gamma.peerId);
  expect(onGamma[0]!.sealedTo).toEqual(expect.arrayContaining([alpha.peerId, beta.peerId]));
  expect(onGamma[0]!.unsealed).toEqual([]);
  expect(await seen(gamma)).toEqual([]);
  const onBeta = JSON.parse((await beta.ctl('-o', 'json', 'var', 'list')).stdout) as VarInfo[];
  expect(onBeta[0]!.thisDevice).toBe('opens');

  // Revoke beta, then put a new version: beta is not sealed it, alpha's copy restarts with the new value.
  const revoke = await alpha.ctl('--operator-key', key, 'node', 'revoke', beta.peerId);
  expect(revoke.code).toBe(0);
  await waitFor('alpha and gamma no longer list beta', async () => {
    const lists = await Promise.all(
      [alpha, gamma].map(async (a) => JSON.parse((await a.ctl('-o', 'json', 'node', 'list')).stdout).length),
    );
    return lists.every((n) => n === 2);
  });
  // From standard input this time: the value is in no file and no argument.
  const put2 = spawnSync(
    process.execPath,
    [
      MESHCTL,
      '--api',
      alpha.api,
      '--data-dir',
      alpha.dataDir,
      '--operator-key',
      key,
      'var',
      'put',
      'app/db',
      'password=-',
    ],
    { input: `${second}\n`, encoding: 'utf8', timeout: 20_000 },
  );
  expect(put2.stderr).toBe('');
  expect(put2.stdout).toMatch(/version 2 added, sealed to 1 operator\(s\) and 1 device\(s\)/);
  const v2 = JSON.parse(
    (await alpha.ctl('-o', 'json', 'var', 'get', '--operator-key', key, 'app/db')).stdout,
  );
  expect(v2.values).toEqual({ password: second });
  // At once, not through the restart policy (its 15 s delay, its attempts): a variable's change is no failure.
  await waitFor(
    'alpha’s copy restarts with the second value',
    async () => (await seen(alpha)).includes(sha256(second)),
    10_000,
  );
  const sealed = JSON.parse((await alpha.ctl('-o', 'json', 'var', 'list')).stdout) as VarInfo[];
  expect(sealed[0]!.version).toBe(2);
  expect(sealed[0]!.sealedTo).not.toContain(beta.peerId);
  expect(sealed[0]!.sealedTo).toContain(alpha.peerId);
  const api = /"api":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(alpha.child.output())![1]!;
  const token = (await readFile(join(alpha.dataDir, 'api.token'), 'utf8')).trim();
  const raw = (await (
    await fetch(`${api}/v1/vars/${encodeURIComponent('app/db')}`, {
      headers: { authorization: `Bearer ${token}` },
    })
  ).json()) as VarSealed;
  expect(Object.keys(raw.seals)).not.toContain(beta.peerId);
  expect(JSON.stringify(raw)).not.toContain(second);

  // A device that becomes eligible later is sealed in by the one alive holder (alpha), with no operator.
  const delta = await startAgent(tmp.path, 'delta', await tokenFor(alpha.address), 'alpha');
  agents.push(delta);
  await waitFor(
    'delta’s copy got the second value through a re-seal',
    async () => (await seen(delta)).includes(sha256(second)),
    30_000,
  );
  expect(alpha.child.output()).toMatch(/sealed a variable to a newly eligible recipient/);

  // Nothing in clear anywhere the agents write, nor in what they logged (at debug level).
  for (const a of agents) {
    a.child.kill('SIGTERM');
    await exited(a.child);
  }
  for (const a of agents) {
    for (const value of [first, second]) {
      expect(await filesHolding(a.dataDir, value), `${a.name}'s data dir`).toEqual([]);
      expect(a.child.output().includes(value), `${a.name}'s log`).toBe(false);
    }
  }
}, 180_000);

test('an open mesh refuses variables with the reason; bad paths and entries get clear errors', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const open = await startLocalMeshd(join(tmp.path, 'open'), [
    '--driver',
    'none',
    '--registry-listen',
    'off',
  ]);
  cleanups.push(async () => {
    open.agent.kill('SIGKILL');
    await exited(open.agent);
  });
  const keyFile = join(tmp.path, 'operator.key');
  await meshctl(['operator', 'key-gen', keyFile]);
  const put = await open.ctl('--operator-key', keyFile, 'var', 'put', 'app/db', 'password=x');
  expect(put.code).toBe(1);
  expect(put.stderr).toMatch(/variables need a closed mesh .*anyone holding the join token/);
  const badPath = await open.ctl('--operator-key', keyFile, 'var', 'put', 'App/DB', 'password=x');
  expect(badPath.stderr).toMatch(/invalid variable path "App\/DB"/);
  const badPair = await open.ctl('--operator-key', keyFile, 'var', 'put', 'app/db', 'password');
  expect(badPair.stderr).toMatch(/"password" is not KEY=VALUE/);
  const token = (await readFile(join(tmp.path, 'open', 'api.token'), 'utf8')).trim();
  const post = (body: unknown) =>
    fetch(`${open.api}/v1/vars/app%2Fdb/entries`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  expect((await post({ entry: { kind: 'version', value: { seals: 7 } } })).status).toBe(403);
  const list = await open.ctl('-o', 'json', 'var', 'list');
  expect(JSON.parse(list.stdout)).toEqual([]);
  expect(open.agent.output()).not.toMatch(/"level":(50|60)/);
}, 60_000);
