/**
 * `npm run bench:agents-cpu -- --agents N`: N agents in this process (production timings, no jobs), the mesh
 * formed, then a settle period and an inspector CPU profile of the steady state. Prints JSON: CPU used as a share
 * of one core, the share of samples the JavaScript thread was idle, and where the busy samples went (by package,
 * and the project's files by name). This is what limits how many agents one process carries (docs/results/2026-11-22-sim.md).
 *   -- --agents N --settle-seconds S --profile-seconds S
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Agent } from '../src/node/agent.js';
import { progress, sleep, startMesh, waitForMesh } from './mesh.js';
import { rng } from './rng.js';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '60' },
    'settle-seconds': { type: 'string', default: '20' },
    'profile-seconds': { type: 'string', default: '30' },
  },
});
const AGENTS = Number(values.agents);
const SETTLE_MS = Number(values['settle-seconds']) * 1000;
const PROFILE_MS = Number(values['profile-seconds']) * 1000;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

/** Where a sample's function lives: a package under node_modules, one of our files, or V8's own bucket. */
function origin(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  const inModules = url.split('node_modules/').at(-1);
  if (url.includes('node_modules/') && inModules)
    return inModules
      .split('/')
      .slice(0, inModules.startsWith('@') ? 2 : 1)
      .join('/');
  const ours = url.split('/dist/build/')[1];
  if (ours) return ours.replace(/\.js$/, '');
  return url || `(${functionName.replace(/[()]/g, '')})`;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'mycel-bench-agents-cpu-'));
  const agents: Agent[] = [];
  const startedAt = performance.now();
  try {
    await startMesh(agents, AGENTS, root, rng(11), (bootstrap) => ({ join: bootstrap }));
    const meshFormed = await waitForMesh(agents, 900_000, 1_000);
    const startSeconds = (performance.now() - startedAt) / 1000;
    progress(`every agent holds every node record: ${meshFormed}; settling ${SETTLE_MS / 1000} s`);
    await sleep(SETTLE_MS);

    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    await sleep(PROFILE_MS);
    const { profile } = await session.post('Profiler.stop');
    const cpu = process.cpuUsage(cpuBefore);
    const wallMs = performance.now() - wallBefore;
    session.disconnect();

    const nodes = new Map((profile.nodes as ProfileNode[]).map((n) => [n.id, n]));
    const bySource = new Map<string, number>();
    const byFunction = new Map<string, number>();
    for (const id of profile.samples ?? []) {
      const node = nodes.get(id);
      if (!node) continue;
      const source = origin(node.callFrame);
      const fn = `${source}:${node.callFrame.functionName || '(anonymous)'}`;
      bySource.set(source, (bySource.get(source) ?? 0) + 1);
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + 1);
    }
    const connections = agents.map((a) => a.host.getConnections().length).sort((a, b) => a - b);
    const samples = profile.samples?.length ?? 0;
    const share = (n: number) => Math.round((n / Math.max(samples, 1)) * 1000) / 10;
    process.stdout.write(
      `${JSON.stringify(
        {
          agents: AGENTS,
          meshFormed,
          startSeconds: Math.round(startSeconds),
          profileSeconds: Math.round(wallMs / 100) / 10,
          cpuPercentOfOneCore: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 10,
          idleSamplePercent: share(bySource.get('(idle)') ?? 0),
          connectionsPerAgent: {
            median: connections[Math.floor(connections.length / 2)],
            max: connections.at(-1),
          },
          samplePercentBySource: Object.fromEntries(
            [...bySource]
              .filter(([source]) => source !== '(idle)')
              .sort((a, b) => b[1] - a[1])
              .slice(0, 20)
              .map(([source, n]) => [source, share(n)]),
          ),
          samplePercentByFunction: Object.fromEntries(
            [...byFunction]
              .filter(([fn]) => !fn.startsWith('(idle)'))
              .sort((a, b) => b[1] - a[1])
              .slice(0, 30)
              .map(([fn, n]) => [fn, share(n)]),
          ),
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await Promise.all(agents.map((a) => a.stop().catch(() => {})));
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
