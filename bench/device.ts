/**
 * `npm run bench:device` (root): the device profile. One meshd and its 10 exec copies inside a memory cgroup
 * limited to 256 MB (bench/device-cgroup.ts: v2 or v1), a second, relay-only agent outside it as its peer. For
 * `--minutes` (default 10): the job runs; at a third of the time it is updated (a new version, rolled out); at two
 * thirds the peer is killed (SIGKILL) and the device must see it lost. Sampled every 2 s: the agent's RSS and the
 * cgroup's usage, limit hits, OOM kills, swap and major faults. Prints JSON with peak and steady figures and
 * whether it survived (no OOM kill, the agent and its 10 copies alive at the end, no swap storm).
 *   -- --minutes 10 --limit-mb 256 --copies 10 --entry dist/meshd.mjs
 */
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
  median,
  memoryKb,
  round,
  shebangFlags,
  sleepJob,
  spawnAgent,
  stop,
  until,
} from './agent-processes.js';
import { type CgroupReading, DeviceCgroup } from './device-cgroup.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'limit-mb': { type: 'string', default: '256' },
    copies: { type: 'string', default: '10' },
    entry: { type: 'string', default: BUNDLE },
    'base-port': { type: 'string', default: '4901' },
  },
});
const durationMs = Number(values.minutes) * 60_000;
const limitMb = Number(values['limit-mb']);
const copies = Number(values.copies);
const entry = resolve(values.entry);
const basePort = Number(values['base-port']);
const MB = 2 ** 20;
const progress = (m: string) => process.stderr.write(`${new Date().toISOString()} ${m}\n`);

interface Sample extends CgroupReading {
  readonly at: number;
  readonly rssKb: number;
}

/** Copies of `job` at `version` its node reports running. */
async function running(agent: AgentProcess, job: string, version: number): Promise<number> {
  const allocs = (await api(agent, 'GET', `/v1/allocs?job=${job}`)) as {
    state: string | null;
    jobVersion: number;
  }[];
  return allocs.filter((a) => a.state === 'running' && a.jobVersion === version).length;
}

function peakRssKb(pid: number): number {
  return Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
}

const work = mkdtempSync(join(tmpdir(), 'mycel-bench-device-'));
const cgroup = DeviceCgroup.create(`mycel-device-${process.pid}`, limitMb * MB);
const nodeFlags = shebangFlags(entry);
const fleet: AgentProcess[] = [];
const samples: Sample[] = [];
const events: Record<string, number | string> = {};
let sampler: NodeJS.Timeout | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const a of fleet) a.child.kill('SIGKILL');
    killCopies(work);
    setTimeout(() => {
      cgroup.remove();
      rmSync(work, { recursive: true, force: true });
      process.exit(130);
    }, 500);
  });
}
const started = Date.now();
const elapsed = () => Date.now() - started;
try {
  const peer = spawnAgent({
    entry,
    nodeFlags,
    name: 'peer',
    dataDir: join(work, 'peer'),
    meshPort: basePort,
    apiPort: basePort + 100,
    driver: 'none',
  });
  fleet.push(peer);
  const device = spawnAgent({
    entry,
    nodeFlags,
    name: 'device',
    dataDir: join(work, 'device'),
    meshPort: basePort + 1,
    apiPort: basePort + 101,
    join: [await bootstrapAddress(peer)],
    wrapper: cgroup.wrapper(),
  });
  fleet.push(device);
  const pid = device.child.pid!;
  sampler = setInterval(() => {
    if (device.exited) return;
    try {
      samples.push({ at: elapsed(), rssKb: memoryKb(pid).rss, ...cgroup.read() });
    } catch {
      // The process went away between the check and the read: the exit is reported below.
    }
  }, 2_000);
  events.meshFormedMs = await until(
    'mesh forming',
    async () => (await alivePeers(device)) === 1 && (await alivePeers(peer)) === 1,
    120_000,
    fleet,
  );
  await api(device, 'POST', '/v1/jobs', sleepJob('device-app', copies), 120_000);
  events.copiesRunningMs = await until(
    'copies running',
    async () => (await running(device, 'device-app', 1)) === copies,
    300_000,
    fleet,
  );
  progress(`${copies} copies running in the cgroup (${cgroup.version === 2 ? 'v2' : 'v1'})`);
  await sleep(Math.max(0, durationMs / 3 - elapsed()));
  await api(device, 'POST', '/v1/jobs', sleepJob('device-app', copies, 3601), 120_000);
  events.updateAtMs = elapsed();
  events.updateRolledOutMs = await until(
    'job update rolled out',
    async () => (await running(device, 'device-app', 2)) === copies,
    300_000,
    fleet,
  );
  progress('job update rolled out');
  await sleep(Math.max(0, (2 * durationMs) / 3 - elapsed()));
  events.peerKilledAtMs = elapsed();
  peer.child.kill('SIGKILL');
  events.peerLostAfterMs = await until(
    'peer seen lost',
    async () => ((await api(device, 'GET', '/v1/status')) as { peers: { lost: number } }).peers.lost === 1,
    120_000,
    [device],
  );
  progress('peer lost');
  await sleep(Math.max(0, durationMs - elapsed()));
  events.copiesRunningAtEnd = await running(device, 'device-app', 2);
  events.agentPeakRssMbKernel = round(peakRssKb(pid) / 1024);
} catch (e) {
  events.error = String(e instanceof Error ? e.message : e);
} finally {
  if (sampler) clearInterval(sampler);
}
const deviceAgent = fleet[1];
const exitedDuringRun = deviceAgent?.exited ?? null;
const cgroupPeak = cgroup.peakBytes();
await stop(fleet, 'SIGKILL');
killCopies(work);
await sleep(500);
cgroup.remove();
rmSync(work, { recursive: true, force: true });

const last = samples.at(-1);
const steady = samples.filter((s) => s.at >= (2 * durationMs) / 3);
const first = samples[0];
const mb = (bytes: number) => round(bytes / MB);
const report = {
  benchmark: 'device',
  node: process.version,
  cgroup: { version: cgroup.version, limitMb },
  minutes: Number(values.minutes),
  copies,
  events,
  samples: samples.length,
  agent: {
    peakRssMb: samples.length > 0 ? round(Math.max(...samples.map((s) => s.rssKb)) / 1024) : null,
    steadyRssMb: steady.length > 0 ? round(median(steady.map((s) => s.rssKb)) / 1024) : null,
    exitedDuringRun,
  },
  cgroupUsage: {
    peakMb: cgroupPeak === null ? null : mb(cgroupPeak),
    sampledPeakMb: samples.length > 0 ? mb(Math.max(...samples.map((s) => s.usageBytes))) : null,
    steadyMb: steady.length > 0 ? mb(median(steady.map((s) => s.usageBytes))) : null,
  },
  limitHits: last?.limitHits ?? null,
  oomKills: last?.oomKills ?? null,
  swapMb: last?.swapBytes === null || last === undefined ? null : mb(last.swapBytes),
  majorFaults: last && first ? last.majorFaults - first.majorFaults : null,
};
const survived =
  report.oomKills === 0 &&
  exitedDuringRun === null &&
  events.error === undefined &&
  events.copiesRunningAtEnd === copies;
console.log(JSON.stringify({ ...report, survived }, null, 2));
process.exitCode = survived ? 0 : 1;
