/**
 * Image sharing on a site's first rollout: a real upstream registry (Debian's docker-registry behind a proxy that
 * counts the bytes it serves) holds a ~50 MB image of several layers; 10 agents (real libp2p, one process) pull it
 * at the same moment into their layer stores. Against: the same 10 agents unlinked, each going upstream alone.
 * Prints JSON: upstream bytes / image size (target <= 1.1) and the time until all hold the image.
 * Then the slow-receiver case (bench/registry-slow.ts): a --slow-layer-mb layer (default 200) between two agent
 * processes, the receiver writing at --slow-write-mb-per-s (default 5), upstream stopped; its time and RSS.
 *   -- --cases rollout,slow-receiver --slow-layer-mb 200 --slow-write-mb-per-s 5
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { Agent } from '../src/node/agent.js';
import { parseImageRef } from '../src/registry-p2p/image-ref.js';
import { startSite } from '../test/registry-p2p/mesh.js';
import { imageConfig, pushImage, startUpstreamRegistry } from '../test/support/registry.js';
import { slowReceiver } from './registry-slow.js';

const AGENTS = Number(process.env.AGENTS ?? 10);
const LAYER_MB = [16, 12, 10, 8, 4];
const STALL_MS = Number(process.env.STALL_MS ?? 5_000);
const TUNING = { stallMs: STALL_MS, haveTimeoutMs: 2_000, requestTimeoutMs: 10_000 };
const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: 'rollout,slow-receiver' },
    'slow-layer-mb': { type: 'string', default: '200' },
    'slow-write-mb-per-s': { type: 'string', default: '5' },
  },
});
const cases = new Set(values.cases.split(','));

async function rollout(agents: Agent[], ref: string, imageSize: number, served: () => number) {
  const parsed = parseImageRef(ref);
  if (!parsed) throw new Error(`bad ref ${ref}`);
  const before = served();
  const started = performance.now();
  const times = await Promise.all(
    agents.map(async (a) => {
      await a.registry.puller.pull(parsed);
      return performance.now() - started;
    }),
  );
  const upstreamBytes = served() - before;
  times.sort((x, y) => x - y);
  return {
    upstreamBytes,
    upstreamOverImage: Number((upstreamBytes / imageSize).toFixed(3)),
    allHoldMs: Math.round(times.at(-1) ?? 0),
    firstHoldsMs: Math.round(times[0] ?? 0),
    medianHoldsMs: Math.round(times[Math.floor(times.length / 2)] ?? 0),
    bytesFromPeers: agents.reduce((n, a) => n + a.registry.fetcher.bytesFrom.peers, 0),
  };
}

async function siteRollout() {
  const upstream = await startUpstreamRegistry();
  try {
    const layers = LAYER_MB.map((mb) => randomBytes(mb * 1024 * 1024));
    const image = await pushImage(upstream.direct, 'bench/app', 'v1', imageConfig(layers), layers);
    const ref = `${upstream.host}/bench/app:v1`;

    process.stderr.write(`pushed ${image.size} bytes; starting ${AGENTS} linked agents\n`);
    const mesh = await startSite(AGENTS, TUNING, true);
    let meshResult: Awaited<ReturnType<typeof rollout>>;
    try {
      meshResult = await rollout(mesh.agents, ref, image.size, upstream.bytesServed);
    } finally {
      await mesh.stop();
    }
    process.stderr.write(`mesh: ${JSON.stringify(meshResult)}\n`);
    const alone = await startSite(AGENTS, TUNING, false);
    let directResult: Awaited<ReturnType<typeof rollout>>;
    try {
      directResult = await rollout(alone.agents, ref, image.size, upstream.bytesServed);
    } finally {
      await alone.stop();
    }
    return {
      agents: AGENTS,
      image: { bytes: image.size, layers: image.layers.length },
      mesh: meshResult,
      direct: directResult,
      target: { upstreamOverImage: 1.1 },
    };
  } finally {
    await upstream.stop();
  }
}

const result: Record<string, unknown> = { bench: 'registry', stallMs: STALL_MS, loadAverage: loadavg()[0] };
if (cases.has('rollout')) Object.assign(result, await siteRollout());
if (cases.has('slow-receiver'))
  result.slowReceiver = await slowReceiver(
    Number(values['slow-layer-mb']),
    Number(values['slow-write-mb-per-s']),
    TUNING,
  );
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
