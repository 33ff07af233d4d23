import { JobSpecs } from '../../crdt/job-specs.js';
import type { MeshState } from '../../crdt/mesh-state.js';
import type { PeerLiveness } from '../placement/placement-input.js';
import { type PlacementLivenessSource, placementLivenessReader } from '../placement/placement-liveness.js';
import { type CatalogService, serviceCatalog } from './service-catalog.js';

/** What the catalog is read from: the replica and the liveness view placement reads. */
export interface CatalogSource extends Omit<PlacementLivenessSource, 'nodes'> {
  readonly state: Pick<MeshState, 'jobs' | 'nodes' | 'allocations'>;
}

/** The agent's pieces a catalog reads (the `Agent` has them all). */
export interface CatalogAgent {
  readonly peerId: string;
  readonly startedAt: number;
  readonly config: { readonly lostAfterMs: number };
  readonly liveness: { list(now: number): readonly PeerLiveness[] };
  readonly state: { readonly state: CatalogSource['state'] };
}

/** A catalog over a running agent's replica and liveness view, on the wall clock. */
export function agentCatalog(agent: CatalogAgent, now: () => number = Date.now): CatalogReader {
  return catalogReader({
    self: agent.peerId,
    startedAt: agent.startedAt,
    lostAfterMs: agent.config.lostAfterMs,
    now,
    heard: (at) => agent.liveness.list(at),
    state: agent.state.state,
  });
}

export interface CatalogReader {
  /** The catalog as of now, at most `maxAgeMs` old. */
  services(): CatalogService[];
  /** One service by name; undefined when no running job declares it. */
  service(name: string): CatalogService | undefined;
}

/**
 * Reads the catalog, computed at most once per `maxAgeMs` (default 500 ms): DNS clients may ask many times a
 * second, and each answer would otherwise walk the whole replica. Specs are validated once per content.
 */
export function catalogReader(source: CatalogSource, maxAgeMs = 500): CatalogReader {
  const specs = new JobSpecs();
  const liveness = placementLivenessReader({ ...source, nodes: () => source.state.nodes() });
  let cached: { at: number; services: CatalogService[] } | undefined;
  const services = () => {
    const now = source.now();
    if (cached !== undefined && now - cached.at < maxAgeMs && now >= cached.at) return cached.services;
    const computed = serviceCatalog(
      {
        jobs: source.state.jobs(),
        nodes: source.state.nodes(),
        allocations: source.state.allocations(),
        liveness: liveness(),
        self: source.self,
      },
      (version) => specs.read(version),
    );
    specs.forgetUnread();
    cached = { at: now, services: computed };
    return computed;
  };
  return { services, service: (name) => services().find((s) => s.name === name) };
}
