// The factories agent.ts wires: each service built from the shared components and the few services it names,
// in the style of js-libp2p's components, so adding a service grows this list and not the agent.
import { trustRootOf } from '../crdt/trust.js';
import type { Logger } from '../lib/logger.js';
import { formatImageRef, parseImageRef } from '../registry-p2p/image-ref.js';
import { RegistryService, type RegistryTuning } from '../registry-p2p/registry-service.js';
import { LivenessService } from './liveness/liveness-service.js';
import type { MeshSecrets } from './membership/join-token.js';
import { Revocations, type RevokedDevices } from './membership/revocations.js';
import type { SealKeyPair } from './membership/seal-key.js';
import { closeConnectionsTo } from './net/close-connections.js';
import type { InboundLimits } from './net/inbound-limits.js';
import type { KnownPeers } from './net/known-peers.js';
import type { HostOptions, MeshHost } from './net/libp2p-host.js';
import { PeerDiscovery } from './net/peer-discovery.js';
import { ImageUse } from './placement/image-use.js';
import type { PeerLiveness } from './placement/placement-input.js';
import { placementLivenessReader } from './placement/placement-liveness.js';
import { VarResealer } from './placement/var-resealer.js';
import type { CatalogReader } from './services/catalog-reader.js';
import { serviceTemplateData } from './services/template-services.js';
import type { AgentConfig } from './setup/config.js';
import type { MeshMetrics } from './setup/metrics.js';
import { Started } from './setup/services.js';
import type { GossipBus } from './state/gossip-bus.js';
import { StateService, type StateServiceOptions } from './state/state-service.js';
import { syncMetrics } from './state/sync-metrics.js';
import { Workloads, type WorkloadsDeps } from './workloads/workloads.js';

/** What the imperative shell needs from the outside world; the simulator substitutes all of it. */
export interface AgentEnvironment {
  log: Logger;
  now?: () => number;
  random?: () => number;
  transport?: HostOptions['transport'];
  connectionGater?: HostOptions['connectionGater'];
  /** Process-wide metrics (RSS, heap, event loop) make sense once per process, not once per simulated agent. */
  processMetrics?: boolean;
  /** Anti-entropy and flush periods; tests and benchmarks shorten them. */
  state?: Partial<StateServiceOptions>;
  /** Placement debounce, health and poll intervals; tests shorten them. */
  workloads?: WorkloadsDeps['tuning'];
  /** Image sharing timeouts; tests shorten them. */
  registry?: Partial<RegistryTuning>;
  /** The simulator's in-memory drivers; absent, the agent runs real processes and containers. */
  makeDriver?: WorkloadsDeps['makeDriver'];
}

/** What every service may be built from: the agent's identity, settings, clock, host and shared plumbing. */
export interface Components {
  readonly self: string;
  readonly config: AgentConfig;
  readonly env: AgentEnvironment;
  readonly log: Logger;
  readonly now: () => number;
  readonly random: () => number;
  readonly startedAt: number;
  readonly host: MeshHost;
  readonly knownPeers: KnownPeers;
  readonly mesh: MeshSecrets | undefined;
  readonly revoked: RevokedDevices;
  readonly sign: (bytes: Uint8Array) => Uint8Array;
  readonly sealKey: SealKeyPair;
  readonly metrics: MeshMetrics;
  readonly limits: InboundLimits;
  readonly gossip: GossipBus;
}

export function peerDiscovery(c: Components, freshConnection: (peer: string) => void): PeerDiscovery {
  return new PeerDiscovery({
    host: c.host,
    knownPeers: c.knownPeers,
    log: c.log,
    now: c.now,
    random: c.random,
    limits: c.limits,
    config: { ...c.config, join: [...c.config.join, ...(c.mesh?.bootstrap ?? [])] },
    introduced: () => c.metrics.introductions.inc(),
    freshConnection,
  });
}

export function livenessService(c: Components, deps: { discovery: PeerDiscovery }): LivenessService {
  return new LivenessService({
    host: c.host,
    log: c.log,
    now: c.now,
    random: c.random,
    limits: c.limits,
    metrics: c.metrics,
    config: c.config,
    startedAt: c.startedAt,
    isRevoked: (peer) => c.revoked.has(peer),
    remember: (peer, addresses, at) => c.knownPeers.remember(peer, addresses, at),
    redial: (silent) => deps.discovery.dialer.redialSilent(silent),
  });
}

export function stateService(c: Components, heard: () => void): Started<StateService> {
  const { host, gossip, limits, config, log, now, random, sign, mesh, metrics } = c;
  return new Started('state', () =>
    StateService.start(
      {
        host,
        gossip,
        limits,
        config,
        log,
        now,
        random,
        sign,
        operators: mesh?.operators,
        sealKey: c.sealKey.publicKey,
        syncEnded: syncMetrics(metrics, heard),
      },
      c.env.state,
    ),
  );
}

export function imageUse(
  c: Components,
  deps: { state: Started<StateService>; workloads: () => Workloads | undefined },
): ImageUse {
  const { state } = deps;
  return new ImageUse({
    self: c.self,
    state: {
      allocations: () => state.value.state.allocations(),
      job: (name) => state.value.state.job(name),
      jobs: () => state.value.state.jobs(),
    },
    placement: () => deps.workloads()?.placement,
    normalImage,
  });
}

export function registryService(
  c: Components,
  deps: { state: Started<StateService>; images: ImageUse },
): Started<RegistryService> {
  const { config, env } = c;
  return new Started('registry', () =>
    RegistryService.start({
      self: c.self,
      host: c.host,
      gossip: c.gossip,
      dataDir: config.dataDir,
      labels: config.labels,
      settings: {
        listen: config.registryListen,
        cacheMb: config.registryCacheMb,
        insecure: config.registryInsecure,
        authFile: config.registryAuthFile,
      },
      inUseImages: () => deps.images.inUse(),
      members: () => new Set(deps.state.value.state.nodes().map((n) => n.peerId)),
      ...(deps.state.value.state.closed
        ? { acceptsRemotePrepull: (ref: string) => deps.images.named(ref) }
        : {}),
      log: c.log,
      ...(env.registry ? { tuning: env.registry } : {}),
    }),
  );
}

/** Placement's liveness reader, one per agent: the workloads place by it and the service catalog reads it. */
export function placementLiveness(
  c: Components,
  deps: { state: Started<StateService>; liveness: LivenessService },
): () => PeerLiveness[] {
  return placementLivenessReader({
    self: c.self,
    startedAt: c.startedAt,
    lostAfterMs: c.config.lostAfterMs,
    now: c.now,
    heard: (at) => deps.liveness.view.list(at),
    nodes: () => deps.state.value.state.nodes(),
  });
}

export function workloadsService(
  c: Components,
  deps: {
    state: Started<StateService>;
    liveness: LivenessService;
    placementLiveness: () => PeerLiveness[];
    /** The agent's one service catalog. */
    catalog: () => CatalogReader;
    registry: () => RegistryService | undefined;
  },
): Started<Workloads> {
  const { config, mesh, env } = c;
  return new Started('workloads', async () => {
    const state = deps.state.value;
    const liveness = deps.placementLiveness;
    // Templates read the catalog over placement's spec cache, which exists once the workloads do.
    let started = false;
    const changes = (listener: () => void) => {
      const offState = state.onChange(listener);
      const offLiveness = deps.liveness.onChange(listener);
      return () => {
        offState();
        offLiveness();
      };
    };
    const workloads = await Workloads.start({
      self: c.self,
      config,
      log: c.log,
      now: c.now,
      state: state.state,
      publish: (messages) => state.publish(messages),
      persist: () => state.store.flush(),
      drivers: state.drivers,
      liveness,
      templateData: [serviceTemplateData(() => (started ? deps.catalog() : undefined), changes)],
      trustRoot: mesh && trustRootOf(mesh.operators),
      imageMirror: () => deps.registry()?.endpoint,
      sealSecret: c.sealKey.secret,
      tuning: env.workloads,
      makeDriver: env.makeDriver,
    });
    started = true;
    state.onChange(() => workloads.changed());
    deps.liveness.onChange(() => workloads.changed());
    return workloads;
  });
}

export function revocations(
  c: Components,
  deps: { state: Started<StateService>; liveness: LivenessService; workloads: Started<Workloads> },
): Revocations {
  return new Revocations({
    self: c.self,
    log: c.log,
    revoked: c.revoked,
    trusted: () => deps.state.value.state.trust().revoked,
    onChange: (listener) => deps.state.value.onChange(listener),
    forget: (peer) => deps.liveness.forget(peer),
    disconnect: (peer) => closeConnectionsTo(c.host, peer),
    fence: () => deps.workloads.value.fence(),
  });
}

function normalImage(image: string): string {
  const ref = parseImageRef(image);
  return ref ? formatImageRef(ref) : image;
}

/** Seals variables to devices that became eligible after they were put (placement/var-resealer.ts). */
export function varResealer(
  c: Components,
  deps: { state: Started<StateService>; liveness: LivenessService; workloads: Started<Workloads> },
): VarResealer {
  return new VarResealer({
    self: c.self,
    secret: c.sealKey.secret,
    sign: c.sign,
    state: () => deps.state.value,
    readSpec: () => (version) => deps.workloads.value.placement.specs.read(version),
    alive: () =>
      new Set(
        deps.liveness.view
          .list(c.now())
          .filter((p) => p.status === 'alive')
          .map((p) => p.peerId),
      ),
    log: c.log,
    now: c.now,
  });
}
