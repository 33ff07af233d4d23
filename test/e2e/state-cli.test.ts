import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir } from '../support/agents.js';
import { startLocalMeshd } from '../support/local-meshd.js';
import { bundle, exited } from '../support/processes.js';

beforeAll(bundle, 60_000);

const cleanups: (() => Promise<void>)[] = [];
afterAll(() => Promise.all(cleanups.map((c) => c())));

test('meshctl job and node commands against a meshd process', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const { agent, ctl } = await startLocalMeshd(join(tmp.path, 'data'), [
    '--name',
    'cli-node',
    '--driver',
    // Relay-only: this test is about the replicated state, not about running the job.
    'none',
  ]);
  try {
    const bad = join(tmp.path, 'bad.yaml');
    await writeFile(bad, ['name: web', 'driver: exec', 'command: /bin/sleep', 'count: -1', ''].join('\n'));
    const refused = await ctl('job', 'run', bad);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/bad\.yaml:4:\d+: count: /);
    expect(JSON.parse((await ctl('-o', 'json', 'job', 'list')).stdout)).toEqual([]);

    const missing = await ctl('job', 'run', join(tmp.path, 'absent.yaml'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no such job file: .*absent\.yaml/);

    const good = join(tmp.path, 'web.yaml');
    await writeFile(good, ['name: web', 'driver: exec', 'command: /bin/sleep', 'count: 2', ''].join('\n'));
    // Relay-only: every run is stored but placed nowhere, which `job run` reports with exit 2.
    const placedNowhere = await ctl('job', 'run', good);
    expect(placedNowhere.code).toBe(2);
    expect(placedNowhere.stderr).toMatch(
      /job "web" is stored, but 2 of 2 copies cannot be placed: .*missing driver exec/,
    );
    expect(placedNowhere.stdout).toMatch(/^job "web" version 1 submitted\nplacement: 0 of 2 copies placed\n/);
    expect((await ctl('job', 'run', good)).stdout).toMatch(
      /^job "web" version 1 unchanged\nplacement: 0 of 2 copies placed\n/,
    );
    await writeFile(good, ['name: web', 'driver: exec', 'command: /bin/sleep', 'count: 3', ''].join('\n'));
    expect((await ctl('job', 'run', good)).stdout).toMatch(
      /^job "web" version 2 submitted\nplacement: 0 of 3 copies placed\n/,
    );

    const list = await ctl('job', 'list');
    expect(list.stdout).toMatch(/^NAME +TYPE +STATUS +VERSION/);
    // A relay-only node runs nothing: the job is wanted running but cannot be placed, and says why.
    expect(list.stdout).toMatch(/^web +service +pending +2 +3 +0\/3 .*missing driver exec/m);
    const status = JSON.parse((await ctl('-o', 'json', 'job', 'status', 'web')).stdout);
    expect(status).toMatchObject({
      name: 'web',
      version: 2,
      status: 'pending',
      desired: 'running',
      spec: { count: 3 },
    });
    const history = JSON.parse((await ctl('-o', 'json', 'job', 'history', 'web')).stdout);
    expect(history.map((v: { version: number; current: boolean }) => [v.version, v.current])).toEqual([
      [2, true],
      [1, false],
    ]);

    expect((await ctl('job', 'stop', 'web')).stdout).toBe('job "web" stopped\n');
    expect((await ctl('job', 'stop', 'web')).stdout).toBe('job "web" was already stopped\n');
    expect((await ctl('job', 'status', 'web')).stdout).toMatch(/^Status: +stopped/m);
    const unknown = await ctl('job', 'status', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no job named "nope"/);

    const nodes = await ctl('node', 'list');
    expect(nodes.stdout).toMatch(/^NAME +PEER ID +LIVENESS +ELIGIBILITY +CPU +MEMORY +DRIVERS +LABELS/);
    expect(nodes.stdout).toMatch(
      /^cli-node \(self\) +12D3Ko\S+ +alive +eligible +\d+(\.\d)? cores +\S+ (MB|GB) +- /m,
    );
    const node = JSON.parse((await ctl('-o', 'json', 'node', 'status', 'cli-node')).stdout);
    expect(node).toMatchObject({ name: 'cli-node', liveness: 'alive', drivers: [], self: true });
    expect(node.reserved.memory).toBeLessThanOrEqual(128);
    expect((await ctl('node', 'status', 'elsewhere')).stderr).toMatch(
      /no node named or with peer id "elsewhere"/,
    );

    expect((await ctl('job', 'stop', 'web', '--purge')).stdout).toBe('job "web" purged\n');
    expect(JSON.parse((await ctl('-o', 'json', 'job', 'list')).stdout)).toEqual([]);
  } finally {
    agent.kill('SIGTERM');
  }
  expect(await exited(agent)).toBe(0);
});
