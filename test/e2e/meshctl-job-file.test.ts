import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir } from '../support/agents.js';
import { bundle, meshctl } from '../support/processes.js';

beforeAll(bundle, 60_000);

const cleanups: (() => Promise<void>)[] = [];
afterAll(() => Promise.all(cleanups.map((c) => c())));

/** The file is refused before any request: no agent needs to listen on this port. */
async function run(file: string) {
  const start = Date.now();
  const result = await meshctl(['--api', 'http://127.0.0.1:9', 'job', 'run', file]);
  return { ...result, ms: Date.now() - start };
}

test('meshctl job run refuses what is not a regular job file, at once', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const fifo = join(tmp.path, 'job.fifo');
  execFileSync('mkfifo', [fifo]);
  const dir = join(tmp.path, 'jobs');
  await mkdir(dir);
  const big = join(tmp.path, 'big.yaml');
  await writeFile(big, `name: web\n# ${'x'.repeat(300 * 1024)}\n`);

  for (const [file, message] of [
    [
      '/dev/urandom',
      /^meshctl: \/dev\/urandom is a character device, not a job file: give the path of a YAML or JSON file$/m,
    ],
    [fifo, /job\.fifo is a FIFO, not a job file/],
    [dir, /jobs is a directory, not a job file/],
    [big, /job file .*big\.yaml is 301 KiB; a job file may be at most 256 KiB/],
  ] as const) {
    const result = await run(file);
    expect(result.stderr).toMatch(message);
    expect(result.code).toBe(1);
    expect(result.ms).toBeLessThan(5_000);
  }
}, 60_000);
