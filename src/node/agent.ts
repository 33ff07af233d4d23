import { join } from 'node:path';
import { trustRootOf } from '../crdt/trust.js';
import type { Logger } from '../lib/logger.js';
import { RegistryService, type RegistryTuning } from '../registry-p2p/registry-service.js';
import { VERSION } from '../version.js';
import { agentRoutes } from './api/api-routes.js';
import type { Route } from './api/control-api.js';
import { allocLogsRoutes } from './api/routes/alloc-logs-routes.js';
import { allocRoutes } from './api/routes/alloc-routes.js';
import { imageRoutes } from './api/routes/image-routes.js';
import { placementRoutes } from './api/routes/placement-routes.js';
import { signedRoutes } from './api/routes/signed-routes.js';
import { stateRoutes } from './api/routes/state-routes.js';
import type { AgentStatus, PeerInfo } from './api/types.js';
import type { LivenessChange, LivenessView } from './liveness/liveness.js';
import type { LivenessExchange } from './liveness/liveness-exchange.js';
import { LivenessService } from './liveness/liveness-service.js';
import { localAllocLogs, ownerView } from './logs/alloc-logs-local.js';
import { AllocLogsProtocol } from './logs/alloc-logs-protocol.js';
import { loadOrCreateIdentity } from './membership/identity.js';
import type { MeshSecrets } from './membership/join-token.js';
import { resolveMembership } from './membership/mesh-membership.js';
import { Revocations, RevokedDevices } from './membership/revocations.js';
import { closeConnectionsTo } from './net/close-connections.js';
import { InboundLimits } from './net/inbound-limits.js';
import { KnownPeers } from './net/known-peers.js';
import { createHost, type HostOptions, type MeshHost } from './net/libp2p-host.js';
import { PeerDiscovery } from './net/peer-discovery.js';
import { ImageUse } from './placement/image-use.js';
import { placementLivenessReader } from './placement/placement-liveness.js';
import type { PlacementService } from './placement/placement-service.js';
import type { AgentConfig } from './setup/config.js';
import { prepareDataDir } from './setup/data-dir.js';
import { MeshMetrics } from './setup/metrics.js';
import { Lifecycle, type Service, Started } from './setup/services.js';
import { GossipBus } from './state/gossip-bus.js';
import { StateService, type StateServiceOptions } from './state/state-service.js';
import { syncMetrics } from './state/sync-metrics.js';
import type { AllocEvent } from './workloads/alloc-events.js';
import { Workloads, type WorkloadsDeps } from './workloads/workloads.js';

export type { AgentStatus, PeerInfo } from './api/types.js';

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

/**
 * One meshd: wiring only. Each wing's service is built from the few things it needs and started in the order of
 * its services list (stopped in reverse); the logic lives in the wings (each wing's README says what it owns).
 */
export class Agent {
  readonly config: AgentConfig;
  readonly host: MeshHost;
  readonly metrics: MeshMetrics;
  readonly gossip: GossipBus;
  readonly limits: InboundLimits;
  readonly log: Logger;
  readonly startedAt: number;
  /** The closed mesh this agent belongs to; undefined in an open (development) mesh. */
  readonly mesh: MeshSecrets | undefined;
  readonly #now: () => number;
  readonly #discovery: PeerDiscovery;
  readonly #liveness: LivenessService;
  readonly #state: Started<StateService>;
  readonly #registry: Started<RegistryService>;
  readonly #workloads: Started<Workloads>;
  readonly #allocLogs: Started<AllocLogsProtocol>;
  readonly #lifecycle: Lifecycle;
  #stopping: Promise<void> | undefined;

  private constructor(init: {
    config: AgentConfig;
    host: MeshHost;
    knownPeers: KnownPeers;
    env: AgentEnvironment;
    mesh: MeshSecrets | undefined;
    revoked: RevokedDevices;
    sign: (bytes: Uint8Array) => Uint8Array;
  }) {
    const { config, host, env, mesh, revoked } = init;
    const log = env.log;
    const now = env.now ?? Date.now;
    const random = env.random ?? Math.random;
    this.config = config;
    this.mesh = mesh;
    this.host = host;
    this.log = log;
    this.#now = now;
    this.startedAt = now();
    this.metrics = new MeshMetrics({ processMetrics: env.processMetrics ?? true });
    this.limits = new InboundLimits(this.metrics, log, now);
    this.gossip = new GossipBus(host.services.pubsub, this.metrics, this.limits);
    const self = this.peerId;
    const { limits, metrics, gossip } = this;

    this.#discovery = new PeerDiscovery({
      host,
      knownPeers: init.knownPeers,
      log,
      now,
      random,
      limits,
      config: { ...config, join: [...config.join, ...(mesh?.bootstrap ?? [])] },
      introduced: () => metrics.introductions.inc(),
    });
    const knownPeers = init.knownPeers;
    this.#liveness = new LivenessService({
      host,
      log,
      now,
      random,
      limits,
      metrics,
      config,
      startedAt: this.startedAt,
      isRevoked: (peer) => revoked.has(peer),
      remember: (peer, addresses, at) => knownPeers.remember(peer, addresses, at),
    });
    const liveness = this.#liveness;

    const state = new Started('state', () =>
      StateService.start(
        {
          host,
          gossip,
          limits,
          config,
          log,
          now,
          random,
          sign: init.sign,
          operators: mesh?.operators,
          syncEnded: syncMetrics(metrics),
        },
        env.state,
      ),
    );
    this.#state = state;
    const placement = () => this.#workloads.maybe?.placement;
    const images = new ImageUse({ self, state: stateReads(state), placement });
    this.#registry = new Started('registry', () =>
      RegistryService.start({
        self,
        host,
        gossip,
        dataDir: config.dataDir,
        labels: config.labels,
        settings: {
          listen: config.registryListen,
          cacheMb: config.registryCacheMb,
          insecure: config.registryInsecure,
          authFile: config.registryAuthFile,
        },
        inUseImages: () => images.inUse(),
        ...(state.value.state.closed ? { acceptsRemotePrepull: (ref: string) => images.named(ref) } : {}),
        log,
        ...(env.registry ? { tuning: env.registry } : {}),
      }),
    );
    this.#workloads = new Started('workloads', async () => {
      const workloads = await Workloads.start({
        self,
        config,
        log,
        now,
        state: state.value.state,
        publish: (messages) => state.value.publish(messages),
        persist: () => state.value.store.flush(),
        drivers: state.value.drivers,
        liveness: placementLivenessReader({
          self,
          startedAt: this.startedAt,
          lostAfterMs: config.lostAfterMs,
          now,
          heard: (at) => liveness.view.list(at),
          nodes: () => state.value.state.nodes(),
        }),
        trustRoot: mesh && trustRootOf(mesh.operators),
        imageMirror: () => this.#registry.maybe?.endpoint,
        tuning: env.workloads,
        makeDriver: env.makeDriver,
      });
      state.value.onChange(() => workloads.changed());
      liveness.onChange(() => workloads.changed());
      return workloads;
    });
    const revocations = new Revocations({
      self,
      log,
      revoked,
      trusted: () => state.value.state.trust().revoked,
      onChange: (listener) => state.value.onChange(listener),
      forget: (peer) => liveness.forget(peer),
      disconnect: (peer) => closeConnectionsTo(host, peer),
      fence: () => this.#workloads.value.fence(),
    });
    this.#allocLogs = new Started('log service', async () => {
      const protocol = new AllocLogsProtocol({
        host,
        log,
        local: localAllocLogs({
          self,
          view: ownerView(state.value.state, this.#workloads.value.placement),
          now,
          logs: (allocId, options) => this.#workloads.value.logs(allocId, options),
        }),
      });
      await protocol.start();
      return protocol;
    });

    const services: Service[] = [
      { name: 'host', stop: () => host.stop() },
      this.#discovery,
      this.#liveness,
      state,
      { name: 'sync metrics', start: () => metrics.watchSyncSessions(() => syncAges(state.value)) },
      this.#registry,
      this.#workloads,
      revocations,
      this.#allocLogs,
      // Dials last: a peer reached early finds every protocol served.
      this.#discovery.dialing,
    ];
    this.#lifecycle = new Lifecycle(services);
  }

  static async start(config: AgentConfig, env: AgentEnvironment): Promise<Agent> {
    await prepareDataDir(config.dataDir);
    const identity = await loadOrCreateIdentity(config.dataDir);
    const mesh = await resolveMembership(config.dataDir, config.joinToken, env.log);
    const revoked = new RevokedDevices();
    const knownPeers = await KnownPeers.load(join(config.dataDir, 'peers.json'), (reason) =>
      env.log.warn({ reason }, 'known peers file unreadable; starting from the --join addresses alone'),
    );
    const host = await createHost({
      privateKey: identity.key,
      listen: config.listen,
      maxConnections: config.maxConnections,
      // Each ping opens a stream (a multistream negotiation, about eight frames): at 10 s the pings cost a
      // 60-agent process more frames than the liveness digests themselves. RTT is a figure for operators.
      pingIntervalMs: 60_000,
      transport: env.transport,
      connectionGater: revoked.gater(env.connectionGater),
      psk: mesh?.psk,
    });
    const sign = (bytes: Uint8Array) => identity.key.sign(bytes) as Uint8Array;
    const agent = new Agent({ config, host, knownPeers, env, mesh, revoked, sign });
    await agent.#lifecycle.start();
    agent.log.info(
      {
        peerId: agent.peerId,
        addresses: agent.addresses(),
        newIdentity: identity.created,
        mesh: mesh ? 'closed' : 'open',
      },
      'agent started',
    );
    return agent;
  }

  get peerId(): string {
    return this.host.peerId.toString();
  }

  /** Replicated jobs and nodes. */
  get state(): StateService {
    return this.#state.value;
  }

  /** Placement of every allocation in the mesh, and the reconciler running this node's share. */
  get workloads(): Workloads {
    return this.#workloads.value;
  }

  /** Where every copy in the mesh should run, as this agent computes it. */
  get placement(): PlacementService {
    return this.#workloads.value.placement;
  }

  /** Recent events of a copy this node runs. */
  allocEvents(allocId: string): AllocEvent[] {
    return this.#workloads.value.reconciler.events(allocId);
  }

  /** Image sharing: the layer store, the protocol between agents, the endpoint Docker pulls through. */
  get registry(): RegistryService {
    return this.#registry.value;
  }

  /** Logs of any allocation: served to other agents, and asked of them (`meshctl alloc logs`). */
  get allocLogs(): AllocLogsProtocol {
    return this.#allocLogs.value;
  }

  /** Who is alive, as this agent hears it. */
  get liveness(): LivenessView {
    return this.#liveness.view;
  }

  /** Liveness digests to and from direct neighbours. */
  get livenessExchange(): LivenessExchange {
    return this.#liveness.exchange;
  }

  addresses(): string[] {
    return this.host.getMultiaddrs().map((ma) => ma.toString());
  }

  /** Subscribe to liveness transitions (alive/suspect/lost/forgotten, restarts). */
  onLivenessChange(listener: (changes: LivenessChange[]) => void): () => void {
    return this.#liveness.onChange(listener);
  }

  status(): AgentStatus {
    const now = this.#now();
    return {
      peerId: this.peerId,
      name: this.config.name,
      version: VERSION,
      labels: this.config.labels,
      addresses: this.addresses(),
      peers: this.#liveness.counts(),
      connections: this.host.getConnections().length,
      startedAt: this.startedAt,
      uptimeSeconds: Math.floor((now - this.startedAt) / 1000),
      dialErrors: this.#discovery.dialErrors(),
    };
  }

  peers(): PeerInfo[] {
    return this.#liveness.peers();
  }

  /** The control API's routes: each group reads only what its own deps interface names of this agent. */
  routes(): Route[] {
    return [
      ...agentRoutes(this),
      ...stateRoutes(this),
      ...placementRoutes(this.placement),
      ...allocRoutes(this),
      ...signedRoutes(this),
      ...allocLogsRoutes(this),
      ...imageRoutes(this),
    ];
  }

  /** Stops every service in reverse order. Workloads keep running: an agent restart adopts them. */
  stop(): Promise<void> {
    this.#stopping ??= this.#lifecycle
      .stop()
      .then(() => this.log.info({ peerId: this.peerId }, 'agent stopped'));
    return this.#stopping;
  }
}

function stateReads(state: Started<StateService>) {
  return {
    allocations: () => state.value.state.allocations(),
    job: (name: string) => state.value.state.job(name),
    jobs: () => state.value.state.jobs(),
  };
}

function syncAges(state: StateService): number[] {
  return state.activeSyncs().map((s) => s.ageMs);
}
