import { join } from 'node:path';
import type { Logger } from '../lib/logger.js';
import type { RegistryService } from '../registry-p2p/registry-service.js';
import { VERSION } from '../version.js';
import { agentRoutes } from './api/api-routes.js';
import type { Route, UpgradeRoute } from './api/control-api.js';
import { allocCommandUpgrades } from './api/routes/alloc-command-socket.js';
import { allocLogsRoutes } from './api/routes/alloc-logs-routes.js';
import { allocRoutes } from './api/routes/alloc-routes.js';
import { eventsRoutes } from './api/routes/events-routes.js';
import { imageRoutes } from './api/routes/image-routes.js';
import { jobPlanRoutes } from './api/routes/job-plan-routes.js';
import { jobVersionRoutes } from './api/routes/job-version-routes.js';
import { placementRoutes } from './api/routes/placement-routes.js';
import { serviceRoutes } from './api/routes/service-routes.js';
import { signedRoutes } from './api/routes/signed-routes.js';
import { stateRoutes } from './api/routes/state-routes.js';
import { uiRoutes } from './api/routes/ui-routes.js';
import { varRoutes } from './api/routes/var-routes.js';
import type { AgentStatus, PeerInfo } from './api/types.js';
import { BrowserSessions } from './api/ui/browser-sessions.js';
import {
  type AgentEnvironment,
  type Components,
  imageUse,
  livenessService,
  peerDiscovery,
  placementLiveness,
  registryService,
  revocations,
  stateService,
  varResealer,
  workloadsService,
} from './components.js';
import type { EventFeed } from './events/event-feed.js';
import { EventFeedService } from './events/event-feed-service.js';
import type { LivenessChange, LivenessView } from './liveness/liveness.js';
import type { LivenessExchange } from './liveness/liveness-exchange.js';
import type { LivenessService } from './liveness/liveness-service.js';
import { AllocEventsProtocol } from './logs/alloc-events-protocol.js';
import type { AllocExecProtocol } from './logs/alloc-exec-protocol.js';
import { allocExecService } from './logs/alloc-exec-service.js';
import type { AllocLogsProtocol } from './logs/alloc-logs-protocol.js';
import { allocLogsService } from './logs/alloc-logs-service.js';
import { loadOrCreateIdentity } from './membership/identity.js';
import type { MeshSecrets } from './membership/join-token.js';
import { resolveMembership } from './membership/mesh-membership.js';
import { RevokedDevices } from './membership/revocations.js';
import { loadOrCreateSealKey, type SealKeyPair } from './membership/seal-key.js';
import { InboundLimits } from './net/inbound-limits.js';
import { knownAddressDial } from './net/known-address-dial.js';
import { KnownPeers } from './net/known-peers.js';
import { createHost, type MeshHost } from './net/libp2p-host.js';
import type { PeerDiscovery } from './net/peer-discovery.js';
import { WireBytes } from './net/wire-bytes.js';
import { watchedMetrics } from './placement/metrics-views.js';
import type { PeerLiveness } from './placement/placement-input.js';
import type { PlacementService } from './placement/placement-service.js';
import { agentCatalog, type CatalogReader } from './services/catalog-reader.js';
import type { AgentConfig } from './setup/config.js';
import { prepareDataDir } from './setup/data-dir.js';
import { MeshMetrics } from './setup/metrics.js';
import { Lifecycle, Started } from './setup/services.js';
import { GossipBus } from './state/gossip-bus.js';
import type { StateService } from './state/state-service.js';
import type { AllocEvent } from './workloads/alloc-events.js';
import type { WarmUp, Workloads } from './workloads/workloads.js';

export type { AgentEnvironment };

/**
 * One meshd: wiring only. Each wing's service is built from the few things it needs (components.ts) and started in
 * the order of its services list (stopped in reverse); the logic lives in the wings (each wing's README says what
 * it owns).
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
  /** Dashboard logins (`meshctl ui`): one-time codes and the sessions they became. */
  readonly browserSessions: BrowserSessions;
  readonly #now: () => number;
  readonly #discovery: PeerDiscovery;
  readonly #liveness: LivenessService;
  readonly #state: Started<StateService>;
  readonly #registry: Started<RegistryService>;
  readonly #workloads: Started<Workloads>;
  readonly #placementLiveness: () => PeerLiveness[];
  #catalog: CatalogReader | undefined;
  readonly #allocLogs: Started<AllocLogsProtocol>;
  readonly #allocEvents: Started<AllocEventsProtocol>;
  readonly #allocExec: Started<AllocExecProtocol>;
  readonly #events: EventFeedService;
  readonly #lifecycle: Lifecycle;
  readonly #sealSecret: Uint8Array;
  #stopping: Promise<void> | undefined;

  private constructor(init: {
    config: AgentConfig;
    host: MeshHost;
    knownPeers: KnownPeers;
    env: AgentEnvironment;
    mesh: MeshSecrets | undefined;
    revoked: RevokedDevices;
    sign: (bytes: Uint8Array) => Uint8Array;
    sealKey: SealKeyPair;
  }) {
    const { config, host, env, mesh } = init;
    const now = env.now ?? Date.now;
    this.config = config;
    this.mesh = mesh;
    this.#sealSecret = init.sealKey.secret;
    this.host = host;
    this.log = env.log;
    this.#now = now;
    this.startedAt = now();
    this.browserSessions = new BrowserSessions(now);
    this.metrics = new MeshMetrics({ processMetrics: env.processMetrics ?? true });
    this.limits = new InboundLimits(this.metrics, env.log, now);
    this.gossip = new GossipBus(host.services.pubsub, this.metrics, this.limits);
    const c: Components = {
      ...init,
      self: this.peerId,
      log: env.log,
      now,
      random: env.random ?? Math.random,
      startedAt: this.startedAt,
      metrics: this.metrics,
      limits: this.limits,
      gossip: this.gossip,
    };
    // Each service below names what it takes from the others; a later one reaches an earlier one only once started.
    this.#discovery = peerDiscovery(c, (peer) => this.#state.maybe?.requestSyncWith(peer));
    this.#liveness = livenessService(c, { discovery: this.#discovery });
    this.#state = stateService(c, () => this.#workloads.maybe?.meshHeard());
    const images = imageUse(c, { state: this.#state, workloads: () => this.#workloads.maybe });
    this.#registry = registryService(c, { state: this.#state, images });
    this.#placementLiveness = placementLiveness(c, { state: this.#state, liveness: this.#liveness });
    this.#workloads = workloadsService(c, {
      state: this.#state,
      liveness: this.#liveness,
      placementLiveness: this.#placementLiveness,
      catalog: () => this.catalog,
      registry: () => this.#registry.maybe,
    });
    this.#allocLogs = allocLogsService({ ...c, state: this.#state, workloads: this.#workloads });
    this.#allocExec = allocExecService({ ...c, state: this.#state, workloads: this.#workloads });
    this.#allocEvents = new Started('alloc events', async () => {
      const events = (allocId: string) => this.allocEvents(allocId);
      const protocol = new AllocEventsProtocol({
        host: knownAddressDial(host, init.knownPeers),
        log: env.log,
        events,
      });
      await protocol.start();
      return protocol;
    });
    const state = this.#state;
    this.#events = new EventFeedService({ ...c, state: () => state.value, liveness: this.#liveness });
    this.#lifecycle = new Lifecycle([
      { name: 'host', stop: () => host.stop() },
      this.#discovery,
      this.#liveness,
      state,
      this.#registry,
      this.#workloads,
      watchedMetrics(c.metrics, state, () => this.placement),
      revocations(c, { state, liveness: this.#liveness, workloads: this.#workloads }),
      varResealer(c, { state, liveness: this.#liveness, workloads: this.#workloads }),
      this.#allocLogs,
      this.#allocEvents,
      this.#allocExec,
      this.#events,
      // Dials last: a peer reached early finds every protocol served.
      this.#discovery.dialing,
      this.#liveness.judging,
    ]);
  }

  static async start(config: AgentConfig, env: AgentEnvironment): Promise<Agent> {
    await prepareDataDir(config.dataDir);
    const identity = await loadOrCreateIdentity(config.dataDir);
    const sealKey = await loadOrCreateSealKey(config.dataDir);
    const mesh = await resolveMembership(config.dataDir, config.joinToken, env.log);
    const revoked = new RevokedDevices();
    const knownPeers = await KnownPeers.load(join(config.dataDir, 'peers.json'), (reason) =>
      env.log.warn({ reason }, 'known peers file unreadable; starting from the --join addresses alone'),
    );
    const wire = new WireBytes();
    const host = await createHost({
      privateKey: identity.key,
      listen: config.listen,
      maxConnections: config.maxConnections,
      // Each ping opens a stream (a multistream negotiation, about eight frames, each ~140 bytes on the wire with
      // its headers and ACK), on every connection from both ends: idle, only liveness cost more
      // (docs/results/2026-12-07-wire.md). RTT is a figure for operators; liveness, not pings, judges a link.
      pingIntervalMs: 600_000,
      transport: env.transport,
      connectionGater: revoked.gater(env.connectionGater),
      psk: mesh?.psk,
      relay: config.relay,
      wire,
    });
    const sign = (bytes: Uint8Array) => identity.key.sign(bytes) as Uint8Array;
    const agent = new Agent({ config, host, knownPeers, env, mesh, revoked, sign, sealKey });
    wire.register(agent.metrics.registry);
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
  /**
   * The agent's one service catalog (DNS, the API, templates), built on first use over placement's liveness
   * reader; its specs come from placement's cache, or a cache of its own on an agent without workloads.
   */
  get catalog(): CatalogReader {
    this.#catalog ??= agentCatalog(this, { now: this.#now, liveness: this.#placementLiveness });
    return this.#catalog;
  }

  get placement(): PlacementService {
    return this.#workloads.value.placement;
  }

  /** Recent events of a copy this node runs. */
  allocEvents(allocId: string): AllocEvent[] {
    return this.#workloads.value.reconciler.events(allocId);
  }

  /** The mesh's changes as this agent sees them (`meshctl events`). */
  get events(): EventFeed {
    return this.#events.feed;
  }

  /** Image sharing: the layer store, the protocol between agents, the endpoint Docker pulls through. */
  get registry(): RegistryService {
    return this.#registry.value;
  }

  /** Logs of any allocation: served to other agents, and asked of them (`meshctl alloc logs`). */
  get allocLogs(): AllocLogsProtocol {
    return this.#allocLogs.value;
  }

  /** Operators' commands to copies (`meshctl alloc exec`, `alloc restart`): served here, relayed to owners. */
  get allocExec(): AllocExecProtocol {
    return this.#allocExec.value;
  }

  /** Recent events of a copy another node runs, asked of that node (`meshctl alloc status`). */
  get ownerEvents(): AllocEventsProtocol {
    return this.#allocEvents.value;
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
    const warmUp = this.warmUp();
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
      reachability: this.#discovery.reachability.view(),
      ...(warmUp === undefined ? {} : { warmUp }),
    };
  }

  /** New copies placed here wait until one lost period after start (workloads.ts); undefined after. */
  warmUp(): WarmUp | undefined {
    return this.#workloads.maybe?.warmUp();
  }

  peers(): PeerInfo[] {
    return this.#liveness.peers();
  }

  /** The control API's routes: each group reads only what its own deps interface names of this agent. */
  routes(): Route[] {
    return [
      ...agentRoutes(this),
      ...stateRoutes(this),
      ...placementRoutes(this.placement, this),
      ...jobPlanRoutes(this),
      ...jobVersionRoutes(this),
      ...allocRoutes(this),
      ...signedRoutes(this),
      ...allocLogsRoutes(this),
      ...eventsRoutes(this),
      ...uiRoutes(this),
      ...imageRoutes(this),
      ...serviceRoutes(this),
      ...varRoutes(this, { sealSecret: this.#sealSecret, now: this.#now }),
    ];
  }

  /** The control API's routes that take their connection over (WebSockets). */
  upgrades(): UpgradeRoute[] {
    return allocCommandUpgrades(this);
  }

  /** Stops every service in reverse order. Workloads keep running: an agent restart adopts them. */
  stop(): Promise<void> {
    this.#stopping ??= this.#lifecycle
      .stop()
      .then(() => this.log.info({ peerId: this.peerId }, 'agent stopped'));
    return this.#stopping;
  }
}
