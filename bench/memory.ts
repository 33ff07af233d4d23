/**
 * `npm run bench:memory`: meshd processes on loopback (the bundle, with its shebang's Node flags, as deployed).
 * Case `single`: one agent alone, idle. Case `mesh`: N agents; once the mesh forms, J exec jobs of `sleep` copies
 * (C copies in all) are submitted and run; after an idle period each agent's RSS, PSS and private memory (from
 * /proc/PID/smaps_rollup) and heap. Then what the replicated documents cost: one agent's state files loaded cold
 * into a fresh process (bench/state.js --load). Prints JSON.
 *   -- --cases single,mesh --agents 20 --jobs 50 --copies 100 --idle-seconds 60
 *      --entry dist/meshd.mjs --no-shebang-flags --node-flags="--max-semi-space-size=1" --env NAME=value --label x
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  type AgentProcess,
  alivePeers,
  api,
  BUNDLE,
  bootstrapAddress,
  killCopies,
  median,
  memoryKb,
  ROOT,
  round,
  runningCopies,
  shebangFlags,
  sleepJob,
  spawnAgent,
  stop,
  until,
} from './agent-processes.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: 'single,mesh' },
    agents: { type: 'string', default: '20' },
    jobs: { type: 'string', default: '50' },
    copies: { type: 'string', default: '100' },
    'idle-seconds': { type: 'string', default: '60' },
    entry: { type: 'string', default: BUNDLE },
    'no-shebang-flags': { type: 'boolean', default: false },
    'node-flags': { type: 'string', default: '' },
    'base-port': { type: 'string', default: '4601' },
    label: { type: 'string', default: '' },
    env: { type: 'string', multiple: true, default: [] },
  },
});
const entry = resolve(values.entry);
const nodeFlags = [
  ...(values['no-shebang-flags'] ? [] : shebangFlags(entry)),
  ...values['node-flags'].split(' ').filter(Boolean),
];
/** `--env NAME=value`, repeatable: the agents' environment (e.g. malloc tuning a launcher would set). */
const agentEnv = Object.fromEntries(
  values.env.map((kv) => {
    const at = kv.indexOf('=');
    if (at < 1) throw new Error(`--env wants NAME=value, got "${kv}"`);
    return [kv.slice(0, at), kv.slice(at + 1)];
  }),
);
const idleSeconds = Number(values['idle-seconds']);
const basePort = Number(values['base-port']);
const progress = (m: string) => process.stderr.write(`${new Date().toISOString()} ${m}\n`);

async function heapUsedMb(agent: AgentProcess): Promise<number | null> {
  try {
    const text = (await api(agent, 'GET', '/metrics', undefined, 10_000)) as string;
    const used = /^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1];
    return used === undefined ? null : round(Number(used) / 2 ** 20);
  } catch {
    return null;
  }
}

function summary(xs: readonly number[]) {
  return { median: round(median(xs)), max: round(Math.max(...xs)), min: round(Math.min(...xs)) };
}

/** What the replicated documents of `dataDir` cost when loaded cold into a fresh process. */
function documentCost(dataDir: string): unknown {
  try {
    return JSON.parse(
      execFileSync(process.execPath, [join(ROOT, 'dist/build/bench/state.js'), '--load', dataDir], {
        encoding: 'utf8',
      }),
    );
  } catch (e) {
    return { error: String(e) };
  }
}

async function runCase(agents: number, jobs: number, copies: number, offset: number) {
  const work = mkdtempSync(join(tmpdir(), 'mycel-bench-memory-'));
  const fleet: AgentProcess[] = [];
  const spawnOne = (i: number, join: string[]) =>
    fleet.push(
      spawnAgent({
        entry,
        nodeFlags,
        env: agentEnv,
        name: `bench-${i}`,
        dataDir: `${work}/a${i}`,
        meshPort: basePort + offset + i,
        apiPort: basePort + offset + 200 + i,
        join,
      }),
    );
  const abort = () => {
    for (const a of fleet) a.child.kill('SIGKILL');
    killCopies(work);
  };
  process.once('SIGINT', abort);
  try {
    spawnOne(0, []);
    const bootstrap = await bootstrapAddress(fleet[0]!);
    for (let i = 1; i < agents; i++) spawnOne(i, [bootstrap]);
    const formedMs = await until(
      'mesh forming',
      async () => (await Promise.all(fleet.map((a) => alivePeers(a)))).every((n) => n === agents - 1),
      300_000,
      fleet,
    );
    progress(`${agents} agents formed in ${formedMs} ms`);
    let runningMs: number | null = null;
    if (jobs > 0) {
      const started = Date.now();
      for (let j = 0; j < jobs; j++) {
        const count = Math.floor(copies / jobs) + (j < copies % jobs ? 1 : 0);
        await api(fleet[j % agents]!, 'POST', '/v1/jobs', sleepJob(`mem-${j}`, count), 120_000);
      }
      await until('copies running', async () => (await runningCopies(fleet[0]!)) === copies, 600_000, fleet);
      runningMs = Date.now() - started;
      progress(`${copies} copies of ${jobs} jobs running after ${runningMs} ms`);
    }
    await sleep(idleSeconds * 1000);
    const memory = fleet.map((a) => memoryKb(a.child.pid!));
    const heap = (await Promise.all(fleet.map(heapUsedMb))).filter((h): h is number => h !== null);
    await stop(fleet);
    return {
      agents,
      jobs,
      copies,
      formedMs,
      runningMs,
      idleSeconds,
      rssMb: summary(memory.map((m) => m.rss / 1024)),
      pssMb: summary(memory.map((m) => m.pss / 1024)),
      privateMb: summary(memory.map((m) => m.private / 1024)),
      privateDirtyMb: summary(memory.map((m) => m.privateDirty / 1024)),
      heapUsedMb: heap.length > 0 ? summary(heap) : null,
      documents: documentCost(fleet[0]!.dataDir),
    };
  } finally {
    process.removeListener('SIGINT', abort);
    await stop(fleet, 'SIGKILL');
    killCopies(work);
    rmSync(work, { recursive: true, force: true });
  }
}

/** What each part costs on its own: RSS of a node process that loads just that part and idles. */
function partCosts(): Record<string, number> {
  const probe = (code: string) =>
    Number(
      execFileSync(process.execPath, [...nodeFlags, '--input-type=module', '-e', code], {
        cwd: ROOT,
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

const results: Record<string, unknown> = {};
for (const [n, name] of values.cases.split(',').entries()) {
  const result =
    name === 'single'
      ? await runCase(1, 0, 0, n * 50)
      : await runCase(Number(values.agents), Number(values.jobs), Number(values.copies), n * 50);
  progress(`${name}: ${JSON.stringify(result)}`);
  results[name] = result;
}
console.log(
  JSON.stringify(
    {
      benchmark: 'memory',
      label: values.label,
      node: process.version,
      entry,
      nodeFlags,
      env: agentEnv,
      parts: partCosts(),
      results,
      targets: { meshRssMb: 90, meshPrivateMb: 48, stretchRssMb: 72 },
    },
    null,
    2,
  ),
);
