/**
 * `npm run bench:memory`: N agents as separate processes on loopback; after the mesh forms and an idle period,
 * each agent's RSS and heap, for the tsc build and for the single-file bundle. Prints JSON.
 *   -- --agents N --idle-seconds S --variants bundle,tsc --node-flags="--max-semi-space-size=1"
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

// Compiled to dist/build/bench/memory.js.
const root = resolve(import.meta.dirname, '../../..');
const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '20' },
    'idle-seconds': { type: 'string', default: '60' },
    variants: { type: 'string', default: 'bundle,tsc' },
    'node-flags': { type: 'string', default: '' },
    'base-port': { type: 'string', default: '4601' },
  },
});
const agents = Number(values.agents);
const idleSeconds = Number(values['idle-seconds']);
const nodeFlags = values['node-flags'] ? values['node-flags'].split(' ').filter(Boolean) : [];
const basePort = Number(values['base-port']);

const entries: Record<string, string> = {
  bundle: join(root, 'dist/meshd.mjs'),
  tsc: join(root, 'dist/build/src/cli/meshd.js'),
};

/**
 * RSS counts the Node binary's text pages (about 50 MB of clean, shared, reclaimable file pages) in every
 * process; PSS splits shared pages between their users and private-dirty is what only this agent holds.
 */
function memoryKb(pid: number): { rss: number; pss: number; privateDirty: number } {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? Number.NaN);
  return { rss: field('Rss'), pss: field('Pss'), privateDirty: field('Private_Dirty') };
}

/** The control API wants the token the agent wrote into its data dir at first start. */
function authorization(dataDir: string): Record<string, string> {
  return { authorization: `Bearer ${readFileSync(join(dataDir, 'api.token'), 'utf8').trim()}` };
}

async function getJson(url: string, dataDir: string): Promise<unknown> {
  const res = await fetch(url, { headers: authorization(dataDir), signal: AbortSignal.timeout(3_000) });
  return res.json();
}

/** A busy machine can delay an answer; a missing figure is reported as null, never a crash. */
async function heapUsedBytes(api: string, dataDir: string): Promise<number> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const res = await fetch(`${api}/metrics`, {
        headers: authorization(dataDir),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? Number.NaN);
    } catch {
      await sleep(1_000);
    }
  }
  return Number.NaN;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The flags an entry's `#!/usr/bin/env -S node <flags>` line gives it: measured as it is deployed. */
function shebangFlags(entry: string): string[] {
  const first = readFileSync(entry, 'utf8').slice(0, 200).split('\n')[0] ?? '';
  const match = /^#!\/usr\/bin\/env -S node (.*)$/.exec(first);
  return match?.[1] ? match[1].split(' ').filter(Boolean) : [];
}

async function runVariant(variant: string): Promise<Record<string, unknown>> {
  const entry = entries[variant];
  if (!entry) throw new Error(`unknown variant ${variant}`);
  const flags = [...shebangFlags(entry), ...nodeFlags];
  const work = mkdtempSync(join(tmpdir(), `mycel-bench-memory-${variant}-`));
  const children: { child: ChildProcess; api: string; dataDir: string }[] = [];
  const spawnAgent = (i: number, join: string[]) => {
    const api = `127.0.0.1:${basePort + 200 + i}`;
    const child = spawn(
      process.execPath,
      [
        ...flags,
        entry,
        '--name',
        `bench-${i}`,
        '--data-dir',
        `${work}/a${i}`,
        '--listen',
        `/ip4/127.0.0.1/tcp/${basePort + i}`,
        '--api',
        api,
        '--log-level',
        'warn',
        '--driver',
        'exec',
        ...join.flatMap((a) => ['--join', a]),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    child.once('exit', (code) => {
      if (!stopping) exitedEarly.push(`bench-${i} exited with ${code}`);
    });
    children.push({ child, api: `http://${api}`, dataDir: `${work}/a${i}` });
  };
  let stopping = false;
  const exitedEarly: string[] = [];
  const killAll = () => {
    for (const { child } of children) child.kill('SIGKILL');
  };
  process.once('SIGINT', killAll);
  process.once('SIGTERM', killAll);
  try {
    spawnAgent(0, []);
    const first = children[0]!;
    let bootstrap = '';
    for (let t = 0; t < 100 && !bootstrap; t++) {
      try {
        bootstrap =
          ((await getJson(`${first.api}/v1/status`, first.dataDir)) as { addresses: string[] })
            .addresses[0] ?? '';
      } catch {
        await sleep(100);
      }
    }
    for (let i = 1; i < agents; i++) spawnAgent(i, [bootstrap]);
    const formStart = Date.now();
    for (;;) {
      const alive = await Promise.all(
        children.map(async (c) => {
          try {
            return ((await getJson(`${c.api}/v1/status`, c.dataDir)) as { peers: { alive: number } }).peers
              .alive;
          } catch {
            return 0;
          }
        }),
      );
      if (alive.every((n) => n === agents - 1)) break;
      if (exitedEarly.length > 0) throw new Error(`agents died: ${exitedEarly.join('; ')}`);
      if (Date.now() - formStart > 120_000) throw new Error(`mesh did not form: ${alive.join(',')}`);
      if (process.env.BENCH_DEBUG) console.error(alive.join(','));
      await sleep(250);
    }
    const formedMs = Date.now() - formStart;
    await sleep(idleSeconds * 1000);
    const memory = children.map((c) => memoryKb(c.child.pid!));
    const rss = memory.map((m) => m.rss / 1024);
    const pss = memory.map((m) => m.pss / 1024);
    const privateDirty = memory.map((m) => m.privateDirty / 1024);
    const heap = await Promise.all(
      children.map(async (c) => (await heapUsedBytes(c.api, c.dataDir)) / 2 ** 20),
    );
    return {
      variant,
      nodeFlags: flags,
      agents,
      formedMs,
      idleSeconds,
      rssMb: { median: round(median(rss)), max: round(Math.max(...rss)), min: round(Math.min(...rss)) },
      pssMb: { median: round(median(pss)), max: round(Math.max(...pss)) },
      privateDirtyMb: { median: round(median(privateDirty)), max: round(Math.max(...privateDirty)) },
      heapUsedMb: { median: round(median(heap)), max: round(Math.max(...heap)) },
    };
  } finally {
    stopping = true;
    await Promise.all(
      children.map(
        ({ child }) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      ),
    );
    rmSync(work, { recursive: true, force: true });
  }
}

/** What each part costs on its own: RSS of a node process that loads just that part and idles. */
function partCosts(): Record<string, number> {
  const probe = (code: string) =>
    Number(
      execFileSync(process.execPath, [...nodeFlags, '--input-type=module', '-e', code], {
        cwd: root,
        encoding: 'utf8',
      }).trim(),
    );
  const report = `await new Promise(r => setTimeout(r, 1000)); const m = (await import('node:fs')).readFileSync('/proc/self/status','utf8'); console.log(Number(/VmRSS:\\s+(\\d+)/.exec(m)[1])/1024)`;
  return {
    bareNodeMb: round(probe(report)),
    automergeWasmMb: round(
      probe(
        `const A = await import('@automerge/automerge/slim'); const fs = await import('node:fs'); await A.initializeWasm(fs.readFileSync('dist/automerge.wasm')); ${report}`,
      ),
    ),
    libp2pFromNodeModulesMb: round(
      probe(
        `await import('libp2p'); await import('@libp2p/gossipsub'); await import('@chainsafe/libp2p-noise'); await import('@chainsafe/libp2p-yamux'); await import('@libp2p/tcp'); ${report}`,
      ),
    ),
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

const results = [];
for (const variant of values.variants.split(',')) {
  const result = await runVariant(variant);
  console.error(JSON.stringify(result));
  results.push(result);
}
console.log(
  JSON.stringify(
    { benchmark: 'memory', node: process.version, nodeFlags, parts: partCosts(), results, targetRssMb: 72 },
    null,
    2,
  ),
);
