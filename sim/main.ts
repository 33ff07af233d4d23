/**
 * `npm run sim -- <scenario> [--netns] [--nodes N] [--shards N]`: runs sim/scenarios/<scenario>.ts and prints one
 * JSON report on stdout (progress on stderr). `--shards`: worker threads carrying the agents (default: one per
 * 50 agents, at most one per core). Exits 1 when an invariant failed, 2 on bad usage.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScenario, shardsFor } from './fault/run-scenario.js';
import type { Scenario } from './scenario.js';

const here = dirname(fileURLToPath(import.meta.url));
const GC_FLAG = '--external-memory-accounted-in-global-limit';
const scenarioDir = join(here, 'scenarios');

function available(): string[] {
  return readdirSync(scenarioDir)
    .filter((f) => f.endsWith('.js'))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function main(): Promise<number> {
  const [name, ...flags] = process.argv.slice(2);
  if (!name || !available().includes(name)) {
    process.stderr.write(
      `usage: npm run sim -- <scenario> [--netns] [--nodes N] [--shards N]\n${name ? `unknown scenario "${name}"; ` : ''}scenarios: ${available().join(', ')}\n`,
    );
    return 2;
  }
  const { scenario: file } = (await import(join(scenarioDir, `${name}.js`))) as { scenario: Scenario };
  const nodesFlag = flags.indexOf('--nodes');
  const nodes = nodesFlag >= 0 ? Number(flags[nodesFlag + 1]) : file.nodes;
  if (!Number.isInteger(nodes) || nodes < 2) {
    process.stderr.write('--nodes takes a whole number of at least 2\n');
    return 2;
  }
  const shardsFlag = flags.indexOf('--shards');
  const shards = shardsFlag >= 0 ? Number(flags[shardsFlag + 1]) : shardsFor(nodes);
  if (!Number.isInteger(shards) || shards < 1) {
    process.stderr.write('--shards takes a whole number of at least 1\n');
    return 2;
  }
  if (nodes > 50 && !process.execArgv.includes(GC_FLAG))
    process.stderr.write(
      `note: without node ${GC_FLAG} (npm run sim passes it) V8 answers the agents' short-lived off-heap buffers with full collections of a heap that grows with the fleet; 100 agents then stall\n`,
    );
  const scenario = { ...file, nodes };
  try {
    const report = flags.includes('--netns')
      ? await (await import('./netns/run-netns.js')).runNetnsScenario(scenario)
      : await runScenario(scenario, shards);
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return report.ok ? 0 : 1;
  } catch (err) {
    // A step that never answered (or a setup that failed) is a failed run, reported as one.
    const failure = err instanceof Error ? err.message : String(err);
    process.stdout.write(
      `${JSON.stringify({ scenario: scenario.name, ok: false, failures: [failure] }, null, 2)}\n`,
    );
    return 1;
  }
}

const code = await main();
// A step that timed out can leave an agent still starting after the fleet stopped, which would keep the process
// alive for good: the report is written, so the run ends here once stdout has taken it.
process.stdout.write('', () => process.exit(code));
