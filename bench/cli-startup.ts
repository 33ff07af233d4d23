/**
 * `npm run bench:cli-startup`: wall time of one command-line call, from spawn to exit, as a device's operator
 * feels it: `meshctl --version`, `meshctl --help`, `meshctl status` against a local agent, and `meshd --version`,
 * each on every Node given (the system's /usr/bin/node and the Node running this). Prints JSON: median and p90 ms
 * of wall time, and the median CPU time (user + system, from GNU time) that a busy machine inflates less.
 *   -- --runs N --dist DIR (a bundle to measure, e.g. an older build copied aside) --nodes /usr/bin/node,...
 * Issue 22's targets: --version ≤ 80 ms, status ≤ 150 ms.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

// Compiled to dist/build/bench/cli-startup.js.
const root = resolve(import.meta.dirname, '../../..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    dist: { type: 'string', default: join(root, 'dist') },
    nodes: { type: 'string', default: ['/usr/bin/node', process.execPath].join(',') },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1)
  throw new Error(`--runs ${values.runs}: expected a whole number ≥ 1`);
const dist = resolve(values.dist);
const meshctl = join(dist, 'meshctl.mjs');
const meshd = join(dist, 'meshd.mjs');
for (const file of [meshctl, meshd]) {
  if (!existsSync(file)) throw new Error(`${file} is missing: run npm run bundle (or pass --dist)`);
}
const nodes = [...new Set(values.nodes.split(',').filter((n) => n !== '' && existsSync(n)))];

/** The agent every `status` call asks; started once, on the Node running this benchmark. */
async function startAgent(dataDir: string): Promise<{ agent: ChildProcess; api: string }> {
  const agent = spawn(
    process.execPath,
    [
      meshd,
      ...['--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'],
      ...['--driver', 'none', '--registry-listen', 'off', '--log-level', 'info'],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let output = '';
  agent.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const api = /"api":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(output)?.[1];
    if (api) return { agent, api };
    if (agent.exitCode !== null) break;
    await sleep(50);
  }
  agent.kill('SIGKILL');
  throw new Error(`meshd did not serve its API within 30 s:\n${output}`);
}

interface Figures {
  medianMs: number;
  p90Ms: number;
  minMs: number;
  cpuMedianMs: number;
}

const GNU_TIME = '/usr/bin/time';
if (!existsSync(GNU_TIME)) throw new Error(`${GNU_TIME} is missing: apt-get install time`);

/** Two untimed calls first: the page cache then holds the bundle, as it does on a device used a second time. */
function time(node: string, args: string[], expect: RegExp): Figures {
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = -2; i < runs; i++) {
    const start = performance.now();
    const r = spawnSync(GNU_TIME, ['-f', 'cpu %U %S', node, ...args], { encoding: 'utf8', timeout: 30_000 });
    const ms = performance.now() - start;
    const used = /^cpu ([\d.]+) ([\d.]+)$/m.exec(r.stderr);
    if (r.status !== 0 || !expect.test(r.stdout) || !used) {
      throw new Error(`${node} ${args.join(' ')} exited ${r.status}: ${r.stdout}${r.stderr}`);
    }
    if (i >= 0) {
      times.push(ms);
      cpu.push((Number(used[1]) + Number(used[2])) * 1000);
    }
  }
  const at = (list: number[], q: number) => {
    const sorted = [...list].sort((a, b) => a - b);
    return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10;
  };
  return { medianMs: at(times, 0.5), p90Ms: at(times, 0.9), minMs: at(times, 0), cpuMedianMs: at(cpu, 0.5) };
}

const dataDir = mkdtempSync(join(tmpdir(), 'mycel-cli-bench-'));
const { agent, api } = await startAgent(dataDir);
try {
  const ctl = ['--api', api, '--data-dir', dataDir];
  const results = nodes.map((node) => {
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
    return {
      node,
      version,
      nodeAloneMs: time(node, ['-e', 'process.stdout.write("ok")'], /ok/),
      meshctlVersion: time(node, [meshctl, '--version'], /^\d+\.\d+\.\d+/),
      meshctlHelp: time(node, [meshctl, '--help'], /Usage: meshctl/),
      meshctlStatus: time(node, [meshctl, ...ctl, 'status'], /Peer ID:/),
      meshdVersion: time(node, [meshd, '--version'], /^\d+\.\d+\.\d+/),
    };
  });
  console.log(
    JSON.stringify(
      {
        bench: 'cli-startup',
        dist,
        runs,
        load: loadavg()[0],
        targets: { meshctlVersionMs: 80, meshctlStatusMs: 150 },
        results,
      },
      null,
      2,
    ),
  );
} finally {
  agent.kill('SIGTERM');
  await new Promise((done) => agent.once('exit', done));
  rmSync(dataDir, { recursive: true, force: true });
}
