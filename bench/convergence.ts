/**
 * bench:convergence: 50 in-process agents on loopback TCP (default liveness and anti-entropy settings), N jobs
 * submitted one at a time on random agents. For each job: time until its submitter acknowledged it (on disk) and
 * until every agent holds it; p50/p99/max. Then an idle minute: bytes and write calls each agent's state store
 * issues, and the block-device bytes the whole process wrote (/proc/self/io), extrapolated per agent per hour.
 * The agents are relay-only (`driver: none`): this measures replication, not placement or workloads.
 * Prints one JSON object. `node dist/build/bench/convergence.js [agents] [jobs] [idleMs]`
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseJobFile } from '../src/crdt/job-file.js';
import type { Agent } from '../src/node/agent.js';
import { progress, sleep, startMesh, waitForMesh, waitUntil } from './mesh.js';
import { rng } from './rng.js';

const AGENTS = Number(process.argv[2] ?? 50);
const JOBS = Number(process.argv[3] ?? 30);
const IDLE_MS = Number(process.argv[4] ?? 60_000);
const HOLD_TIMEOUT_MS = 30_000;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summary(values: readonly number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? 0),
  };
}

function diskWriteBytes(): number {
  const line = readFileSync('/proc/self/io', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('write_bytes:'));
  return Number(line?.split(':')[1] ?? Number.NaN);
}

function jobSpec(name: string, count: number) {
  const parsed = parseJobFile(
    [`name: ${name}`, 'driver: exec', 'command: /bin/sleep', 'args: ["3600"]', `count: ${count}`].join('\n'),
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.spec;
}

async function main(): Promise<void> {
  const random = rng(7);
  const root = mkdtempSync(join(tmpdir(), 'mycel-bench-convergence-'));
  const agents: Agent[] = [];
  const startedAt = performance.now();
  try {
    await startMesh(agents, AGENTS, root, random, (bootstrap) => ({ join: bootstrap }));
    const meshFormed = await waitForMesh(agents, 180_000, 1_000);
    const startupMs = performance.now() - startedAt;
    progress(`every agent holds every node record: ${meshFormed}`);

    const ackMs: number[] = [];
    const everywhereMs: number[] = [];
    const afterAckMs: number[] = [];
    let missed = 0;
    // All agents share one event loop here; its delay is what separates these figures from one agent per device.
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    for (let j = 0; j < JOBS; j++) {
      const submitter = agents[Math.floor(random() * agents.length)] as Agent;
      const name = `bench-${j}`;
      const t0 = performance.now();
      await submitter.state.submitJob(jobSpec(name, 1 + (j % 5)));
      const acked = performance.now();
      ackMs.push(acked - t0);
      const held = await waitUntil(
        () => agents.every((a) => a.state.state.job(name) !== undefined),
        HOLD_TIMEOUT_MS,
        2,
      );
      if (held) {
        everywhereMs.push(performance.now() - t0);
        afterAckMs.push(performance.now() - acked);
      } else missed++;
      progress(`${name}: acknowledged in ${Math.round(ackMs.at(-1) ?? 0)} ms, everywhere: ${held}`);
    }

    loopDelay.disable();

    // Let the last batched flushes and sessions finish before the idle minute starts.
    await sleep(35_000);
    const storeBefore = agents.map((a) => ({ ...a.state.store.stats }));
    const diskBefore = diskWriteBytes();
    await sleep(IDLE_MS);
    const diskAfter = diskWriteBytes();
    const perHour = 3_600_000 / IDLE_MS;
    const storeBytes = agents.map((a, i) => a.state.store.stats.bytes - (storeBefore[i]?.bytes ?? 0));
    const storeWrites = agents.map((a, i) => a.state.store.stats.writes - (storeBefore[i]?.writes ?? 0));
    const total = (xs: number[]) => xs.reduce((s, x) => s + x, 0);

    console.log(
      JSON.stringify(
        {
          agents: AGENTS,
          jobs: JOBS,
          meshFormed,
          startupMs: Math.round(startupMs),
          ackMs: summary(ackMs),
          everyAgentHoldsJobMs: summary(everywhereMs),
          everyAgentHoldsJobAfterAckMs: summary(afterAckMs),
          jobsNotEverywhereWithin30s: missed,
          eventLoopDelayWhileSubmittingMs: {
            p50: Math.round(loopDelay.percentile(50) / 1e6),
            p99: Math.round(loopDelay.percentile(99) / 1e6),
          },
          idle: {
            measuredMs: IDLE_MS,
            storeBytesPerAgentPerHour: Math.round((total(storeBytes) / AGENTS) * perHour),
            storeWritesPerAgentPerHour: Math.round((total(storeWrites) / AGENTS) * perHour),
            maxStoreBytesOneAgent: Math.max(...storeBytes),
            processDiskBytesPerAgentPerHour: Math.round(((diskAfter - diskBefore) / AGENTS) * perHour),
          },
          loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
        },
        null,
        2,
      ),
    );
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
