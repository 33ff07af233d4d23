/**
 * Issue 16 #3 and the SIGTERM item: a job change that could not be stored is not applied anywhere, meshctl tells
 * an unknown outcome from an unreachable agent, resubmitting the same spec changes nothing, and an agent on a
 * full disk stops cleanly. Real meshd and meshctl processes, the data dir on a real tmpfs filled to the brim.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { open, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from '../support/agents.js';
import { apiGet, type MeshdAgent, startMeshd, stopMeshd } from '../support/meshd-mesh.js';
import { processesWith } from '../support/proc.js';
import { bundle, exited, meshctl } from '../support/processes.js';
import { mountSmallDisk } from '../support/tmpfs.js';

beforeAll(bundle, 120_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const TIMINGS = {
  driver: 'exec',
  heartbeatIntervalMs: 250,
  suspectAfterMs: 1_250,
  lostAfterMs: 3_000,
} as const;

async function tmpfs(sizeKiB: number): Promise<string> {
  const disk = await mountSmallDisk(`${sizeKiB}k`);
  cleanups.push(() => disk.unmount());
  return disk.path;
}

/** Writes until the file system is full; returns a function that frees the space again. */
async function fill(dir: string): Promise<() => Promise<void>> {
  const filler = join(dir, `filler-${randomUUID()}`);
  const handle = await open(filler, 'w');
  try {
    const chunk = Buffer.alloc(256 * 1024, 1);
    for (;;) await handle.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await handle.close();
  }
  return () => rm(filler, { force: true });
}

const jobNames = async (agent: MeshdAgent) =>
  (await apiGet<{ name: string }[]>(agent, '/v1/jobs')).map((j) => j.name);

describe('a job change on a full data dir', () => {
  it('is refused and applied nowhere; once there is room, the same spec twice makes one version', async () => {
    const full = await tmpfs(32 * 1024);
    const roomy = await tempDir('mycel-roomy-');
    cleanups.push(roomy.cleanup);
    const a = await startMeshd(full, 'a', [], TIMINGS);
    cleanups.push(() => stopMeshd(a));
    const b = await startMeshd(roomy.path, 'b', [a.address], TIMINGS);
    cleanups.push(() => stopMeshd(b));
    await waitFor('a and b to hold both node records', async () => {
      const [na, nb] = await Promise.all([
        apiGet<unknown[]>(a, '/v1/nodes'),
        apiGet<unknown[]>(b, '/v1/nodes'),
      ]);
      return na.length === 2 && nb.length === 2;
    });
    const marker = `mycel-full-${randomUUID()}`;
    cleanups.push(() => {
      for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
    });
    const jobFile = join(roomy.path, 'full-web.yaml');
    await writeFile(
      jobFile,
      [
        'name: full-web',
        'driver: exec',
        'command: sh',
        `args: ["-c", "sleep 300; true", "${marker}"]`,
        'count: 2',
        'resources: { cpu: 100, memory: 32 }',
      ].join('\n'),
    );
    const run = () => meshctl(['--api', a.api, '--data-dir', a.dataDir, 'job', 'run', jobFile]);

    const free = await fill(full);
    const refused = await run();
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/job "full-web" was not stored, so nothing changed: .*ENOSPC.*free space/);
    // Long enough for gossip and placement to have started copies had the change been applied.
    await sleep(3_000);
    expect(await jobNames(a)).not.toContain('full-web');
    expect(await jobNames(b)).not.toContain('full-web');
    expect(processesWith(marker)).toEqual([]);

    await free();
    const first = await run();
    expect(first.stdout).toMatch(/job "full-web" version 1 submitted/);
    // What meshctl advises after an unknown outcome must be harmless: the same spec again is no new version.
    const again = await run();
    expect(again.stdout).toMatch(/job "full-web" version 1 unchanged/);
    await waitFor('two copies running', () => processesWith(marker).length === 2, 20_000);
    expect(await jobNames(b)).toContain('full-web');

    // SIGTERM with changes still unstored and nowhere to store them: b's stop reaches a by gossip, then a's
    // data dir turns read-only (a full one would still take a small append into the log's last page).
    const stopped = await meshctl(['--api', b.api, '--data-dir', b.dataDir, 'job', 'stop', 'full-web']);
    expect(stopped.code).toBe(0);
    await waitFor('both copies to stop', () => processesWith(marker).length === 0, 20_000);
    execFileSync('mount', ['-o', 'remount,ro', full]);
    const purged = await meshctl([
      '--api',
      b.api,
      '--data-dir',
      b.dataDir,
      'job',
      'stop',
      '--purge',
      'full-web',
    ]);
    expect(purged.code).toBe(0);
    await waitFor('a to hear of the purge', async () => !(await jobNames(a)).includes('full-web'));
    a.child.kill('SIGTERM');
    expect(await exited(a.child)).toBe(0);
    expect(a.child.output()).toMatch(/could not store the latest state changes at shutdown/);
    expect(a.child.output()).toMatch(/"msg":"agent stopped"/);
    expect(a.child.output()).not.toMatch(/Unhandled|unhandled/);
  });
});

describe('meshctl when the connection breaks after the request left', () => {
  it('says the outcome is unknown and where to look, not that the agent cannot be reached', async () => {
    const dir = await tempDir('mycel-drop-');
    cleanups.push(dir.cleanup);
    const server = createServer((req, res) => {
      if (req.url === '/v1/trust') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ closed: false }));
        return;
      }
      // The agent got the whole request, then the connection dropped: it may have stored the job.
      req.resume();
      req.on('end', () => req.socket.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const jobFile = join(dir.path, 'web.yaml');
    await writeFile(
      jobFile,
      ['name: web', 'driver: exec', 'command: /bin/sleep', 'args: ["300"]', 'count: 1'].join('\n'),
    );
    await writeFile(join(dir.path, 'api.token'), 'token\n', { mode: 0o600 });

    const result = await meshctl(['--api', api, '--data-dir', dir.path, 'job', 'run', jobFile]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/the outcome is unknown; check with `meshctl job status web`/);
    expect(result.stderr).not.toMatch(/cannot reach/);
  });
});
