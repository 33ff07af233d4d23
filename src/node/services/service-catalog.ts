/**
 * The service catalog, derived from nothing but this agent's replica and its liveness view, so every agent
 * answers on its own, offline included, and agents whose replicas and views agree answer the same. Pure: the
 * output depends only on the content of the arguments, never on the order entries arrived in.
 *
 * An instance is a copy of a running job, of its current version or of an older one a rollout has not replaced
 * yet, that its node reports running and healthy (or running with health unknown when its version has no health
 * check), under a service name the current version declares, on a node the placement's liveness view does
 * not count lost (node/placement/placement-liveness.ts: the same rules that decide when copies are replaced),
 * reachable at an IP address from its node's record, at the port's host port (a dynamic port's: the one the
 * copy's status records).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { canonicalJson } from '../../crdt/canonical-json.js';
import type { JobVersion, JobView } from '../../crdt/job-log.js';
import type { JobSpec } from '../../crdt/job-spec.js';
import { readJobSpec } from '../../crdt/job-specs.js';
import type { AllocStatus, NodeRecord } from '../../crdt/records.js';
import { compareText } from '../../lib/compare-text.js';
import type { Result } from '../../lib/result.js';
import type { PeerLiveness } from '../placement/placement-input.js';

export interface ServiceInstance {
  readonly allocId: string;
  readonly job: string;
  readonly jobVersion: number;
  readonly node: string;
  readonly nodeName: string;
  readonly address: string;
  readonly port: number;
  readonly protocol: 'tcp' | 'udp';
  /** `unknown` only for a job without a health check. */
  readonly health: 'healthy' | 'unknown';
  readonly tags: readonly string[];
}

export interface CatalogService {
  readonly name: string;
  /** The jobs that declare it (usually one), sorted. */
  readonly jobs: readonly string[];
  /** Sorted by job, then allocation id. */
  readonly instances: readonly ServiceInstance[];
}

export interface CatalogInput {
  readonly jobs: readonly JobView[];
  readonly nodes: readonly NodeRecord[];
  readonly allocations: readonly AllocStatus[];
  /** The placement's liveness view (`placementLiveness`); a node absent from it counts lost. */
  readonly liveness: readonly PeerLiveness[];
  /** This agent: alive to itself whatever the view says. */
  readonly self: string;
}

export type SpecReader = (version: JobVersion) => Result<JobSpec>;

/** Every service a running job declares, with its instances (possibly none), sorted by name. */
export function serviceCatalog(input: CatalogInput, readSpec: SpecReader = readJobSpec): CatalogService[] {
  const lost = lostNodes(input);
  const nodes = new Map(input.nodes.map((n) => [n.peerId, n]));
  const byJob = new Map<string, AllocStatus[]>();
  for (const status of dedupe(input.allocations)) {
    const list = byJob.get(status.job) ?? [];
    list.push(status);
    byJob.set(status.job, list);
  }

  const services = new Map<string, { jobs: Set<string>; instances: ServiceInstance[] }>();
  for (const view of input.jobs) {
    if (view.desired !== 'running') continue;
    const spec = readSpec(view.current);
    if (!spec.ok || spec.value.name !== view.name) continue;
    const declared = new Set<string>();
    for (const service of spec.value.services ?? []) {
      const entry = services.get(service.name) ?? { jobs: new Set<string>(), instances: [] };
      entry.jobs.add(view.name);
      services.set(service.name, entry);
      declared.add(service.name);
    }
    const specOf = versionSpecs(view, spec.value, readSpec);
    for (const status of byJob.get(view.name) ?? []) {
      if (status.state !== 'running' || lost(status.node)) continue;
      // A copy of an older version serves until a rollout replaces it: it stays an instance meanwhile, with the
      // port and check its own version declares, so a rollout or a scale never empties the catalog.
      const own = specOf(status.jobVersion);
      const health = own && instanceHealth(status, own.health !== undefined);
      const node = nodes.get(status.node);
      const address = node && reachableAddress(node.addresses);
      if (own === undefined || health === undefined || node === undefined || address === undefined) continue;
      for (const service of own.services ?? []) {
        const entry = services.get(service.name);
        const port = own.ports.find((p) => p.name === service.port);
        const hostPort = port && (port.host ?? recordedPort(status, port.name));
        if (!declared.has(service.name) || entry === undefined || hostPort === undefined) continue;
        entry.instances.push({
          allocId: status.allocId,
          job: view.name,
          jobVersion: status.jobVersion,
          node: status.node,
          nodeName: node.name,
          address,
          port: hostPort,
          protocol: port!.protocol,
          health,
          tags: [...(service.tags ?? [])],
        });
      }
    }
  }
  return [...services]
    .sort(([a], [b]) => compareText(a, b))
    .map(([name, { jobs, instances }]) => ({
      name,
      jobs: [...jobs].sort(compareText),
      instances: instances.sort((a, b) => compareText(a.job, b.job) || compareText(a.allocId, b.allocId)),
    }));
}

/**
 * The spec of each version of a job its copies may run, read once per version. A version number two agents
 * submitted at once is in the history twice: the copy runs the one listed first, the one that won.
 */
function versionSpecs(
  view: JobView,
  current: JobSpec,
  readSpec: SpecReader,
): (version: number) => JobSpec | undefined {
  const specs = new Map<number, JobSpec | undefined>([[view.current.version, current]]);
  return (version) => {
    if (specs.has(version)) return specs.get(version);
    const listed = view.history.find((v) => v.version === version);
    const spec = listed && readSpec(listed);
    const own = spec?.ok && spec.value.name === view.name ? spec.value : undefined;
    specs.set(version, own);
    return own;
  };
}

/** A dynamic port's host port, as the copy's node recorded it; undefined until it has (an older agent never). */
function recordedPort(status: AllocStatus, name: string): number | undefined {
  return status.ports !== undefined && Object.hasOwn(status.ports, name) ? status.ports[name] : undefined;
}

function instanceHealth(status: AllocStatus, checked: boolean): ServiceInstance['health'] | undefined {
  if (status.health === 'healthy') return 'healthy';
  return status.health === 'unknown' && !checked ? 'unknown' : undefined;
}

/**
 * One status per allocation. The replica keeps one, but should two claim one id, the one with the smaller node
 * id (then the smaller content) counts, whatever order they came in.
 */
function dedupe(allocations: readonly AllocStatus[]): AllocStatus[] {
  const byId = new Map<string, AllocStatus>();
  const before = (a: AllocStatus, b: AllocStatus) =>
    (compareText(a.node, b.node) || compareText(canonicalJson(a), canonicalJson(b))) < 0;
  for (const s of allocations) {
    const seen = byId.get(s.allocId);
    if (seen === undefined || before(s, seen)) byId.set(s.allocId, s);
  }
  return [...byId.values()];
}

function lostNodes(input: CatalogInput): (node: string) => boolean {
  const status = new Map<string, PeerLiveness['status']>();
  for (const entry of input.liveness) {
    // Of two entries for one peer, the livelier counts (placement's view keeps the fresher; both are heard).
    const seen = status.get(entry.peerId);
    if (seen === undefined || seen === 'lost') status.set(entry.peerId, entry.status);
  }
  return (node) => node !== input.self && (status.get(node) ?? 'lost') === 'lost';
}

const RANKS: readonly ((ip: string, v6: boolean) => boolean)[] = [
  (ip, v6) => !v6 && !ip.startsWith('127.') && !ip.startsWith('169.254.'),
  (ip, v6) => v6 && ip !== '::1' && !/^fe[89ab]/i.test(ip),
  (ip, v6) => !v6 && ip.startsWith('127.'),
  (ip, v6) => v6 && ip === '::1',
];

/**
 * The address other devices reach the node at, from the multiaddrs its record lists (the ones peers dial):
 * a routable IPv4 address first, then a routable IPv6 one, loopback only when that is all there is. Ties go to
 * the smallest in text order, so every agent picks the same. Undefined when the record lists no IP address.
 */
export function reachableAddress(addresses: readonly string[]): string | undefined {
  const ips = addresses
    .map((a) => /^\/ip(4|6)\/([^/]+)/.exec(a))
    .flatMap((m) => (m === null ? [] : [{ ip: m[2]!, v6: m[1] === '6' }]))
    // Records come from any peer: an address that is no IP is skipped, never handed on to DNS.
    .filter(({ ip, v6 }) => (v6 ? isIPv6(ip) : isIPv4(ip)))
    .sort((a, b) => compareText(a.ip, b.ip));
  for (const rank of RANKS) {
    const found = ips.find(({ ip, v6 }) => rank(ip, v6));
    if (found) return found.ip;
  }
  return undefined;
}
