import { JobSpecs } from '../../crdt/job-specs.js';
import type { MeshState } from '../../crdt/mesh-state.js';
import type { PeerLiveness } from '../placement/placement-input.js';
import { type PlacementLivenessSource, placementLivenessReader } from '../placement/placement-liveness.js';
import { type CatalogService, serviceCatalog } from './service-catalog.js';

/** What the catalog is read from: the replica and the liveness view placement reads. */
export interface CatalogSource extends Omit<PlacementLivenessSource, 'nodes'> {
  readonly state: Pick<MeshState, 'jobs' | 'nodes' | 'allocations'>;
  /** Placement's cache of validated specs (it forgets what it stops reading); absent: a cache of its own. */
  readonly specs?: () => Pick<JobSpecs, 'read'> | undefined;
  /** The liveness view the workloads place by, so both read one; absent: one of its own from the same inputs. */
  readonly liveness?: () => PeerLiveness[];
}

/** The agent's pieces a catalog reads (the `Agent` has them all). */
export interface CatalogAgent {
  readonly peerId: string;
  readonly startedAt: number;
  readonly config: { readonly lostAfterMs: number };
  readonly liveness: { list(now: number): readonly PeerLiveness[] };
  readonly state: { readonly state: CatalogSource['state'] };
  /** Throws on an agent without workloads (relay only). */
  readonly placement?: { readonly specs: Pick<JobSpecs, 'read'> };
}

/**
 * A catalog over a running agent's replica and liveness view, on the wall clock unless `now` says otherwise;
 * `liveness`: the workloads' reader of that view, shared rather than built again.
 */
export function agentCatalog(
  agent: CatalogAgent,
  options: { readonly now?: () => number; readonly liveness?: () => PeerLiveness[] } = {},
): CatalogReader {
  const now = options.now ?? Date.now;
  return catalogReader({
    ...(options.liveness ? { liveness: options.liveness } : {}),
    self: agent.peerId,
    startedAt: agent.startedAt,
    lostAfterMs: agent.config.lostAfterMs,
    now,
    heard: (at) => agent.liveness.list(at),
    state: agent.state.state,
    specs: () => {
      try {
        return agent.placement?.specs;
      } catch {
        return undefined;
      }
    },
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
 * second, and each answer would otherwise walk the whole replica. Specs come validated from placement's cache,
 * which has read every running job's spec already; only an agent without placement keeps a cache here.
 */
export function catalogReader(source: CatalogSource, maxAgeMs = 500): CatalogReader {
  const own = new JobSpecs();
  const liveness =
    source.liveness ?? placementLivenessReader({ ...source, nodes: () => source.state.nodes() });
  let cached: { at: number; services: CatalogService[] } | undefined;
  const services = () => {
    const now = source.now();
    if (cached !== undefined && now - cached.at < maxAgeMs && now >= cached.at) return cached.services;
    const shared = source.specs?.();
    const computed = serviceCatalog(
      {
        jobs: source.state.jobs(),
        nodes: source.state.nodes(),
        allocations: source.state.allocations(),
        liveness: liveness(),
        self: source.self,
      },
      (version) => (shared ?? own).read(version),
    );
    // Placement's cache is placement's to trim; this one forgets what the catalog stopped reading.
    if (shared === undefined) own.forgetUnread();
    cached = { at: now, services: computed };
    return computed;
  };
  return { services, service: (name) => services().find((s) => s.name === name) };
}
