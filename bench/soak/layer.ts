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

/** A pre-pull aimed at agent `i` alone (its own label), timed until its store holds the whole image. */
async function pull(
  fleet: SoakFleet,
  i: number,
  layer: PushedLayer,
  timeoutMs: number,
): Promise<number | null> {
  const began = performance.now();
  await fleet.api(i, 'POST', '/v1/images/prepull', { ref: layer.ref, labels: { soak: `n${i}` } });
  while (performance.now() - began < timeoutMs) {
    if (await holds(fleet, i, layer.digest).catch(() => false)) return r1((performance.now() - began) / 1000);
    await sleep(500);
  }
  return null;
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
  const timeoutMs = Math.max(120_000, mb * 2_000);
  const report: LayerReport = {
    mb,
    seed: `n${seed}`,
    seedS: null,
    puller: `n${puller}`,
    peerPullS: null,
    peerMBps: null,
    upstreamBytesWhileClosed: 0,
  };
  try {
    const layer = await gate.pushLayer(round, mb);
    gate.open = true;
    report.seedS = await pull(fleet, seed, layer, timeoutMs);
    if (report.seedS === null) throw new Error(`n${seed} did not pull ${layer.ref} from upstream`);
    gate.open = false;
    const before = gate.bytesServed();
    try {
      report.peerPullS = await pull(fleet, puller, layer, timeoutMs);
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
