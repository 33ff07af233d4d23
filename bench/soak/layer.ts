import { performance } from 'node:perf_hooks';
import { round as r1, sleep } from '../../sim/run-steps.js';
import type { SoakFleet } from './fleet.js';
import type { PushedLayer, UpstreamGate } from './upstream.js';

export interface LayerReport {
  mb: number;
  /** Pulled from upstream first, gate open. */
  seed: string;
  seedS: number | null;
  /** Pulled with the upstream gate closed: the bytes can only come from a peer. */
  puller: string;
  peerPullS: number | null;
  peerMBps: number | null;
  /** Pre-pull requests the puller needed (one more every 20 s while it lacks the image). */
  attempts: number;
  /** Whether the puller was linked to the seed when its pull began (null: it did not answer). */
  linkedToSeed: boolean | null;
  /** Bytes upstream served while closed: 0, or the gate leaked. */
  upstreamBytesWhileClosed: number;
  error?: string;
}

/** Whether agent `i` holds every blob of the image whose manifest is `digest`. */
async function holds(fleet: SoakFleet, i: number, digest: string): Promise<boolean> {
  const nodes = (await fleet.api(i, 'GET', '/v1/images')) as {
    name: string;
    images: { digest: string; complete: boolean }[] | null;
  }[];
  return nodes.some(
    (n) => n.name === `n${i}` && (n.images ?? []).some((m) => m.digest === digest && m.complete),
  );
}

/** A failed pre-pull is asked again this often, as Docker would retry a pull. */
const RETRY_MS = 20_000;

/**
 * A pre-pull aimed at agent `i` alone (its own label), timed until its store holds the whole image.
 * `attempts` counts the pre-pull requests it took.
 */
async function pull(
  fleet: SoakFleet,
  i: number,
  layer: PushedLayer,
  timeoutMs: number,
): Promise<{ s: number | null; attempts: number }> {
  const began = performance.now();
  let attempts = 0;
  let askedAt = -Infinity;
  while (performance.now() - began < timeoutMs) {
    if (performance.now() - askedAt >= RETRY_MS) {
      askedAt = performance.now();
      attempts++;
      await fleet
        .api(i, 'POST', '/v1/images/prepull', { ref: layer.ref, labels: { soak: `n${i}` } })
        .catch(() => undefined);
    }
    if (await holds(fleet, i, layer.digest).catch(() => false))
      return { s: r1((performance.now() - began) / 1000), attempts };
    await sleep(500);
  }
  return { s: null, attempts };
}

/** Whether `from` holds a connection to `to`: a puller finds sources only among the peers it is linked to. */
async function linked(fleet: SoakFleet, from: number, to: number): Promise<boolean | null> {
  const peers = await fleet.api(from, 'GET', '/v1/peers').catch(() => null);
  if (!Array.isArray(peers)) return null;
  return (peers as { name: string; connected: boolean }[]).some((p) => p.name === `n${to}` && p.connected);
}

/**
 * The round's layer: a fresh incompressible image pushed upstream, pulled by `seed` while upstream answers,
 * then by `puller` with the upstream gate closed, so the 100 MB must cross the mesh from a peer.
 */
export async function layerRound(
  fleet: SoakFleet,
  gate: UpstreamGate,
  round: number,
  mb: number,
  seed: number,
  puller: number,
): Promise<LayerReport> {
  const timeoutMs = Math.max(60_000, mb * 600);
  const report: LayerReport = {
    mb,
    seed: `n${seed}`,
    seedS: null,
    puller: `n${puller}`,
    peerPullS: null,
    peerMBps: null,
    attempts: 0,
    linkedToSeed: null,
    upstreamBytesWhileClosed: 0,
  };
  try {
    const layer = await gate.pushLayer(round, mb);
    gate.open = true;
    report.seedS = (await pull(fleet, seed, layer, timeoutMs)).s;
    if (report.seedS === null) throw new Error(`n${seed} did not pull ${layer.ref} from upstream`);
    gate.open = false;
    const before = gate.bytesServed();
    try {
      report.linkedToSeed = await linked(fleet, puller, seed);
      const got = await pull(fleet, puller, layer, timeoutMs);
      report.peerPullS = got.s;
      report.attempts = got.attempts;
    } finally {
      report.upstreamBytesWhileClosed = gate.bytesServed() - before;
      gate.open = true;
    }
    if (report.peerPullS === null) throw new Error(`n${puller} did not get ${layer.ref} from its peers`);
    report.peerMBps = r1(layer.bytes / 1024 / 1024 / report.peerPullS);
  } catch (err) {
    report.error = (err as Error).message;
  }
  return report;
}
