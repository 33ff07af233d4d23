/**
 * `npm run bench:state-busy`: bytes a busy device writes to flash, from meshd processes on loopback (3 by
 * default, every one measured). Each cycle stands for an hour: the job (one exec copy per agent) is deployed as a
 * new version and rolled out, then every agent is restarted in turn (SIGTERM, start on the same data dir). An
 * agent's writes are /proc/PID/io `write_bytes` (bytes it sent towards storage), read by the shell that started it
 * once it has exited, so its shutdown flush counts (the kernel counts each page a write dirties: 4 KiB for a
 * small append); its data dir's growth is measured too. After the cycles and 40 s for their last batched flush,
 * an idle minute gives the idle rate. Per day = 24 × a cycle + 24 h at the idle rate. Then the fsync calls of one
 * job submission on one agent, counted with `strace -f -y` while it is submitted and placed (state files and all
 * files). Prints JSON.
 *   -- --agents 3 --cycles 12 --idle-seconds 60
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
  round,
  shebangFlags,
  sleepJob,
  spawnAgent,
  stop,
  until,
} from './agent-processes.js';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '3' },
    cycles: { type: 'string', default: '12' },
    'idle-seconds': { type: 'string', default: '60' },
    entry: { type: 'string', default: BUNDLE },
    'base-port': { type: 'string', default: '5101' },
  },
});
const size = Number(values.agents);
const cycles = Number(values.cycles);
const idleSeconds = Number(values['idle-seconds']);
const entry = resolve(values.entry);
const basePort = Number(values['base-port']);
const nodeFlags = shebangFlags(entry);
const SETTLE_MS = 40_000;
const progress = (m: string) => process.stderr.write(`${new Date().toISOString()} ${m}\n`);
const work = mkdtempSync(join(tmpdir(), 'mycel-bench-state-busy-'));

/** One device across its restarts: the shell around each run writes the agent's final /proc/PID/io. */
interface Device {
  readonly index: number;
  run: AgentProcess;
  runs: number;
  /** write_bytes of finished runs, and of the current run when measuring started. */
  finishedBytes: number;
  baselineBytes: number;
}

const ioFile = (d: Device) => join(work, `io-${d.index}-${d.runs}`);
const dataDir = (i: number) => join(work, `agent-${i}`);
let bootstrap: string[] = [];

function start(d: Pick<Device, 'index' | 'runs'>): AgentProcess {
  return spawnAgent({
    entry,
    nodeFlags,
    name: `busy-${d.index}`,
    dataDir: dataDir(d.index),
    meshPort: basePort + d.index,
    apiPort: basePort + 100 + d.index,
    join: d.index === 0 ? [] : bootstrap,
    // Not `exec`: the shell outlives the agent and reads its I/O account, which holds the reaped child's.
    wrapper: ['/bin/sh', '-c', '"$@"; cat /proc/$$/io > "$0"', join(work, `io-${d.index}-${d.runs}`)],
  });
}

/** The agent's own pid: the shell's only child. */
function agentPid(run: AgentProcess): number {
  const sh = run.child.pid!;
  return Number(readFileSync(`/proc/${sh}/task/${sh}/children`, 'utf8').trim().split(' ')[0]);
}

function writeBytesOf(text: string): number {
  return Number(/^write_bytes:\s+(\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

function liveWriteBytes(d: Device): number {
  return writeBytesOf(readFileSync(`/proc/${agentPid(d.run)}/io`, 'utf8'));
}

function duBytes(path: string): number {
  return Number(execFileSync('du', ['-sb', path], { encoding: 'utf8' }).split('\t')[0]);
}

async function restart(d: Device, fleet: Device[]): Promise<void> {
  const exited = new Promise<void>((done) => d.run.child.once('exit', () => done()));
  process.kill(agentPid(d.run), 'SIGTERM');
  await exited;
  d.finishedBytes += writeBytesOf(readFileSync(ioFile(d), 'utf8')) - d.baselineBytes;
  d.baselineBytes = 0;
  d.runs++;
  d.run = start(d);
  await until(
    `busy-${d.index} back in the mesh`,
    async () => (await alivePeers(d.run)) === size - 1,
    120_000,
    fleet.map((x) => x.run),
  );
}

async function rolledOut(agent: AgentProcess, job: string, version: number, count: number): Promise<boolean> {
  const allocs = (await api(agent, 'GET', `/v1/allocs?job=${job}`)) as {
    state: string | null;
    jobVersion: number;
  }[];
  return allocs.filter((a) => a.state === 'running' && a.jobVersion === version).length === count;
}

/** fsync-family calls of `pid`'s threads while `during` runs: on the state files and on any file. */
async function countFsyncs(
  pid: number,
  during: () => Promise<void>,
): Promise<{ state: number; all: number; byFile: Record<string, number> }> {
  const out = join(work, 'strace.txt');
  const tracer = spawn(
    'strace',
    ['-f', '-y', '-e', 'trace=fsync,fdatasync,sync_file_range', '-o', out, '-p', String(pid)],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  // strace says on stderr once it has attached to every thread.
  await new Promise<void>((done) => {
    let said = '';
    tracer.stderr.on('data', (chunk: Buffer) => {
      said += chunk.toString();
      if ((said.match(/attached/g) ?? []).length > 0) setTimeout(done, 500);
    });
    setTimeout(done, 5_000);
  });
  await during();
  const ended = new Promise<void>((done) => tracer.once('exit', () => done()));
  tracer.kill('SIGINT');
  await ended;
  const calls = readFileSync(out, 'utf8')
    .split('\n')
    .filter((l) => /\b(fsync|fdatasync|sync_file_range)\(/.test(l) && !l.includes('resumed>'));
  const byFile: Record<string, number> = {};
  for (const call of calls) {
    // `-y` prints the descriptor's path: `fsync(12</data/state/docs.log>)`.
    const path = /<([^>]*)>/.exec(call)?.[1] ?? '?';
    const file = path.split('/').slice(-2).join('/');
    byFile[file] = (byFile[file] ?? 0) + 1;
  }
  return { state: calls.filter((l) => l.includes('/state')).length, all: calls.length, byFile };
}

const fleet: Device[] = [];
/** Interrupted: the agents, their shells and their copies go too. */
function killAll(): void {
  for (const d of fleet) {
    try {
      process.kill(agentPid(d.run), 'SIGKILL');
    } catch {
      // Already gone.
    }
    d.run.child.kill('SIGKILL');
  }
  killCopies(work);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  });
}
const report: Record<string, unknown> = {
  benchmark: 'state-busy',
  node: process.version,
  agents: size,
  cycles,
};
try {
  for (let i = 0; i < size; i++) {
    const d = { index: i, runs: 0 };
    const run = start(d);
    fleet.push({ ...d, run, finishedBytes: 0, baselineBytes: 0 });
    if (i === 0) bootstrap = [await bootstrapAddress(run)];
  }
  const runs = () => fleet.map((d) => d.run);
  await until(
    'mesh forming',
    async () => (await Promise.all(runs().map(alivePeers))).every((n) => n === size - 1),
    120_000,
    runs(),
  );
  const job = (v: number) => {
    const spec = sleepJob('busy-app', size, 3600 + v);
    return { ...spec, source: `${spec.source}\nupdate: { maxParallel: ${size}, minHealthyTime: 2s }` };
  };
  await api(fleet[0]!.run, 'POST', '/v1/jobs', job(1), 120_000);
  await until('first deploy', () => rolledOut(fleet[0]!.run, 'busy-app', 1, size), 300_000, runs());
  // Measuring starts here: a device's first start (identity, first state) happens once in its life.
  for (const d of fleet) d.baselineBytes = liveWriteBytes(d);
  const duBefore = fleet.map((d) => duBytes(dataDir(d.index)));
  const started = Date.now();
  for (let c = 1; c <= cycles; c++) {
    await api(fleet[c % size]!.run, 'POST', '/v1/jobs', job(c + 1), 120_000);
    await until(`deploy ${c}`, () => rolledOut(fleet[0]!.run, 'busy-app', c + 1, size), 300_000, runs());
    for (const d of fleet) await restart(d, fleet);
    await until('copies back', () => rolledOut(fleet[0]!.run, 'busy-app', c + 1, size), 300_000, runs());
    progress(`cycle ${c}: deployed v${c + 1}, restarted ${size} agents`);
  }
  // The last cycle's batched flush (every 30 s) belongs to it, not to the idle minute.
  await sleep(SETTLE_MS);
  const busySeconds = (Date.now() - started) / 1000;
  const busyBytes = fleet.map((d) => d.finishedBytes + liveWriteBytes(d) - d.baselineBytes);
  const growth = fleet.map((d, i) => duBytes(dataDir(d.index)) - duBefore[i]!);
  const idleBefore = fleet.map(liveWriteBytes);
  await sleep(idleSeconds * 1000);
  const idleBytes = fleet.map((d, i) => liveWriteBytes(d) - idleBefore[i]!);
  const perCycle = busyBytes.map((b) => b / cycles);
  const perDay = perCycle.map((b, i) => 24 * b + (idleBytes[i]! / idleSeconds) * 86_400);
  const MB = 1e6;
  const submit = await countFsyncs(agentPid(fleet[0]!.run), async () => {
    await api(fleet[0]!.run, 'POST', '/v1/jobs', sleepJob('busy-probe', 1), 120_000);
    await until('probe running', () => rolledOut(fleet[0]!.run, 'busy-probe', 1, 1), 120_000, runs());
    // Statuses settle and the batched flush (30 s) writes them.
    await sleep(35_000);
  });
  const quiet = await countFsyncs(agentPid(fleet[0]!.run), () => sleep(35_000));
  Object.assign(report, {
    busySeconds: Math.round(busySeconds),
    writeKbPerCycle: perCycle.map((b) => round(b / 1e3)),
    dataDirGrowthKb: growth.map((b) => round(b / 1e3)),
    idleWriteBytesPerSecond: idleBytes.map((b) => round(b / idleSeconds)),
    perDeviceMbPerDay: { each: perDay.map((b) => round(b / MB)), max: round(Math.max(...perDay) / MB) },
    targetMbPerDay: 50,
    fsyncsPerJobSubmission: {
      stateFiles: submit.state,
      allFiles: submit.all,
      byFile: submit.byFile,
      idleWindowStateFiles: quiet.state,
      idleWindowAllFiles: quiet.all,
      window: 'submission until its copy runs, then 35 s (one batched flush); idle window 35 s',
    },
  });
} catch (e) {
  report.error = String(e instanceof Error ? e.message : e);
} finally {
  killAll();
  await stop(
    fleet.map((d) => d.run),
    'SIGKILL',
  );
  rmSync(work, { recursive: true, force: true });
}
console.log(JSON.stringify(report, null, 2));
if (report.error) process.exitCode = 1;
