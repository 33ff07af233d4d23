/**
 * `npm run sim:scale -- --nodes 1000 [--loss 0.05] [--seed N] [--latency edge|lan|wan|fixed:<ms>|uniform:<lo>-<hi>]
 *   [--duration 60] [--changes 3] [--interval 10] [--base-jobs 1] [--anti-entropy 30] [--no-lazy-gossip]
 *   [--uplink 10] [--process-ms 1] [--sample 8]`
 * Prints one JSON object: the deterministic report of the run, and `measured` (wall time, memory per node).
 * Memory is real: process.memoryUsage() after a forced GC, before the fleet exists and after the run, divided
 * by the number of nodes. Needs --expose-gc (the npm script passes it).
 *
 * The npm script also passes --external-memory-accounted-in-global-limit: every received message allocates
 * short-lived off-heap buffers (Automerge changes, digests), and by default V8 answers each few tens of MB of
 * them with a full mark-compact of a heap that grows with N, which made a run quadratic in N (18 s instead of
 * 4 s of CPU for 3,000 nodes). The flag changes when V8 collects, not what the run computes or measures.
 */
import { parseArgs } from 'node:util';
import { loadAutomerge } from '../../src/node/setup/automerge-wasm.js';
import { parseLatency } from './latency.js';
import type { ScaleOptions } from './options.js';
import { runScale } from './run.js';

function options(argv: string[]): Partial<ScaleOptions> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      nodes: { type: 'string' },
      loss: { type: 'string' },
      seed: { type: 'string' },
      latency: { type: 'string' },
      duration: { type: 'string' },
      changes: { type: 'string' },
      interval: { type: 'string' },
      'base-jobs': { type: 'string' },
      'anti-entropy': { type: 'string' },
      'no-lazy-gossip': { type: 'boolean' },
      uplink: { type: 'string' },
      'process-ms': { type: 'string' },
      sample: { type: 'string' },
    },
  });
  const number = (name: string, text: string | undefined, scale = 1): number | undefined => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value))
      throw new RangeError(`--${name} must be a number, got "${text}"`);
    return value * scale;
  };
  const out: Record<string, unknown> = {
    nodes: number('nodes', values.nodes),
    loss: number('loss', values.loss),
    seed: number('seed', values.seed),
    latency: values.latency === undefined ? undefined : parseLatency(values.latency),
    durationMs: number('duration', values.duration, 1000),
    changes: number('changes', values.changes),
    changeIntervalMs: number('interval', values.interval, 1000),
    baseJobs: number('base-jobs', values['base-jobs']),
    antiEntropyMs: number('anti-entropy', values['anti-entropy'], 1000),
    lazyGossip: values['no-lazy-gossip'] ? false : undefined,
    uplinkMbps: number('uplink', values.uplink),
    processMs: number('process-ms', values['process-ms']),
    placementSample: number('sample', values.sample),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as Partial<ScaleOptions>;
}

function collect(): NodeJS.MemoryUsage {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run node with --expose-gc: memory per node is measured after a forced GC');
  gc();
  gc();
  return process.memoryUsage();
}

async function main(): Promise<void> {
  let partial: Partial<ScaleOptions>;
  try {
    partial = options(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`sim:scale: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
    return;
  }
  await loadAutomerge();
  const before = collect();
  const started = performance.now();
  let result: ReturnType<typeof runScale>;
  try {
    result = runScale(partial);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    process.stderr.write(`sim:scale: ${e.message}\n`);
    process.exitCode = 2;
    return;
  }
  const wallMs = performance.now() - started;
  const after = collect();
  const { report, sim } = result;
  const nodes = sim.options.nodes;
  const perNode = (key: 'heapUsed' | 'external' | 'rss') => Math.round((after[key] - before[key]) / nodes);
  const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;
  const measured = {
    wallMs: Math.round(wallMs),
    eventsPerWallSecond: Math.round(sim.counters.events / (wallMs / 1000)),
    memoryPerNodeBytes: {
      heapUsed: perNode('heapUsed'),
      // Automerge's WebAssembly memory is counted here.
      external: perNode('external'),
      rss: perNode('rss'),
    },
    processMB: { heapUsed: mb(after.heapUsed), external: mb(after.external), rss: mb(after.rss) },
  };
  process.stdout.write(`${JSON.stringify({ ...report, measured }, null, 2)}\n`);
}

await main();
