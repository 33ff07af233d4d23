/**
 * `npm run bench:soak`: 12 meshd processes, each in its own network namespace, for 30 minutes under rotating
 * faults (one-way cuts both ways, a partition, kill -9 and restart, an IP change), with a fresh incompressible
 * layer each round pulled by one agent from upstream and then by another with upstream stopped. Prints JSON:
 * per round the convergence after the heal, state-sync sessions, per-agent RSS; then the issue-15 targets.
 * Needs root (namespaces, iptables) and Debian's docker-registry.
 * `--minutes N` (30), `--agents N` (12), `--layer-mb N` (100), `--hold-s N` (15), `--converge-cap-s N` (60),
 * `--keep` (keep the agents' logs and data dirs).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { jobSource } from '../sim/netns/run-netns.js';
import { progress, round as r1 } from '../sim/run-steps.js';
import { SoakFleet } from './soak/fleet.js';
import { type RoundReport, runRound, type SoakContext, type SoakSettings } from './soak/round.js';
import { Sampler } from './soak/sampler.js';
import { rssGrowth, targets } from './soak/summary.js';
import { UPSTREAM_HOST, UpstreamGate } from './soak/upstream.js';

function settingsFromArgs(): SoakSettings {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '30' },
      agents: { type: 'string', default: '12' },
      'layer-mb': { type: 'string', default: '100' },
      'hold-s': { type: 'string', default: '15' },
      'converge-cap-s': { type: 'string', default: '60' },
      keep: { type: 'boolean', default: false },
    },
  });
  const num = (name: keyof typeof values, min: number) => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}`);
    return n;
  };
  return {
    minutes: num('minutes', 1),
    agents: num('agents', 3),
    layerMb: num('layer-mb', 1),
    holdS: num('hold-s', 2),
    convergeCapS: num('converge-cap-s', 5),
    keep: values.keep === true,
  };
}

/** Jobs some running agent does not list as running. */
async function lostJobs(fleet: SoakFleet, jobs: readonly string[]): Promise<string[]> {
  const views = await Promise.all(
    fleet.running().map((i) =>
      fleet.api(i, 'GET', '/v1/jobs').then(
        (j) => j as { name: string; desired?: string }[],
        () => null,
      ),
    ),
  );
  return jobs.filter((job) => views.some((v) => !v?.some((j) => j.name === job && j.desired === 'running')));
}

async function main(): Promise<void> {
  const settings = settingsFromArgs();
  const root = await mkdtemp(join(tmpdir(), 'mycel-soak-'));
  let fleet: SoakFleet;
  try {
    fleet = new SoakFleet(settings.agents, root, { MESH_REGISTRY_INSECURE: UPSTREAM_HOST });
  } catch (err) {
    // A missing bundle or a non-root user: nothing was made but the run dir.
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  let gate: UpstreamGate | undefined;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    fleet.destroy();
    await gate?.stop().catch(() => undefined);
    if (settings.keep) progress(`agent logs and data dirs kept in ${root}`);
    else await rm(root, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      progress(`${signal}: removing the namespaces and processes`);
      void cleanup().finally(() => process.exit(130));
    });
  try {
    const began = performance.now();
    fleet.create();
    gate = await UpstreamGate.start(fleet.topo, root);
    progress(`${settings.agents} agents in namespaces ${fleet.topo.ns(0)}..; upstream at ${gate.host}`);
    const meshS = await fleet.until(() => fleet.allAlive(), 180_000, 500);
    if (meshS === null) throw new Error('the mesh did not form within 180 s (agent logs are in the run dir)');
    const acknowledged: string[] = [];
    await fleet.api(0, 'POST', '/v1/jobs', { source: jobSource('soak-base', 3), fileName: 'soak-base.yaml' });
    acknowledged.push('soak-base');
    const startS = await fleet.until(() => fleet.converged(), 60_000);
    progress(
      `mesh formed in ${r1(meshS)} s; first job everywhere ${startS === null ? 'NOT' : `in ${r1(startS)} s`}`,
    );

    const t0 = performance.now();
    const sampler = new Sampler(fleet, t0);
    // Sessions of the mesh's forming are not the first round's.
    await sampler.sample();
    sampler.takeRound();
    sampler.start(5_000);
    const ctx: SoakContext = { fleet, gate, sampler, settings, t0, acknowledged };
    const rounds: RoundReport[] = [];
    while (performance.now() - t0 < settings.minutes * 60_000)
      rounds.push(await runRound(ctx, rounds.length));
    sampler.stop();
    await sampler.sample();
    const endS = (performance.now() - t0) / 1000;
    // The last heal's jobs must be everywhere before "lost" means lost.
    await fleet.until(async () => (await lostJobs(fleet, acknowledged)).length === 0, 60_000, 1_000);
    const lost = await lostJobs(fleet, acknowledged);
    const rss = rssGrowth(sampler.rss, settings.minutes, endS);
    const wedged = { count: sampler.wedged.length, maxSessionAgeS: r1(sampler.maxSessionAgeS) };
    const result = {
      bench: 'soak',
      settings,
      machine: { cpus: cpus().length, loadAverage: loadavg().map(r1) },
      startup: { meshFormedS: r1(meshS), firstJobEverywhereS: startS === null ? null : r1(startS) },
      rounds,
      totals: {
        soakS: r1(endS),
        totalS: r1((performance.now() - began) / 1000),
        sessions: sampler.totals,
        scrapeFailures: sampler.scrapeFailures,
        wedgedSamples: sampler.wedged,
      },
      rss,
      targets: targets(rounds, wedged, rss, lost, acknowledged.length),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await cleanup();
  }
}

await main();
