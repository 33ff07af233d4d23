import { join } from 'node:path';
import type { PeerId } from '@libp2p/interface';
import type { JobVersion } from '../crdt/job-log.js';
import type { JobSpec } from '../crdt/job-spec.js';
import { jobVersion, readJobSpec } from '../crdt/job-specs.js';
import { trustRootOf } from '../crdt/trust.js';
import type { Logger } from '../lib/logger.js';
import type { Result } from '../lib/result.js';
import { formatImageRef, parseImageRef } from '../registry-p2p/image-ref.js';
import { RegistryService, type RegistryTuning } from '../registry-p2p/registry-service.js';
import { VERSION } from '../version.js';
import { type LivenessChange, type LivenessStatus, LivenessView } from './liveness/liveness.js';
import type { DescribedPeer, DigestEntry } from './liveness/liveness-digest.js';
import { LivenessExchange } from './liveness/liveness-exchange.js';
import { localAllocLogs, ownerView } from './logs/alloc-logs-local.js';
import { AllocLogsProtocol } from './logs/alloc-logs-protocol.js';
import { loadOrCreateIdentity } from './membership/identity.js';
import type { MeshSecrets } from './membership/join-token.js';
import { resolveMembership } from './membership/mesh-membership.js';
import { REVOCATION_NOTICE_MS, revocationGater } from './membership/revocation-gater.js';
import { InboundLimits } from './net/inbound-limits.js';
import { Introductions } from './net/introductions.js';
import { KnownPeers } from './net/known-peers.js';
import { createHost, type HostOptions, type MeshHost } from './net/libp2p-host.js';
import { type DialError, dialableAddresses, PeerDialer } from './net/peer-dialer.js';
import { PeerExchange } from './net/peer-exchange.js';
import type { PeerLiveness } from './placement/placement-input.js';
import { placementLiveness } from './placement/placement-liveness.js';
import type { AgentConfig } from './setup/config.js';
import { prepareDataDir } from './setup/data-dir.js';
import { MeshMetrics } from './setup/metrics.js';
import { GossipBus } from './state/gossip-bus.js';
import { StateService, type StateServiceOptions } from './state/state-service.js';
import { stallReason } from './state/state-sync-protocol.js';
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

export interface AgentStatus {
  peerId: string;
  name: string;
  version: string;
  labels: Record<string, string>;
  addresses: string[];
  peers: Record<LivenessStatus, number>;
  connections: number;
  startedAt: number;
  uptimeSeconds: number;
  dialErrors: DialError[];
}

export interface PeerInfo {
  peerId: string;
  name: string;
  addresses: string[];
  liveness: LivenessStatus;
  lastSeen: number;
  connected: boolean;
  rttMs: number | null;
}

/**
 * One meshd: the libp2p host and the loops around it. Data flows one way: neighbours' liveness digests in →
 * liveness view → placement; the view goes back out only as this agent's digest to its neighbours.
 */
export class Agent {
  readonly config: AgentConfig;
  readonly host: MeshHost;
  readonly metrics: MeshMetrics;
  readonly gossip: GossipBus;
  readonly limits: InboundLimits;
  readonly liveness: LivenessView;
  /** Liveness digests to and from direct neighbours. */
  readonly livenessExchange: LivenessExchange;
  readonly log: Logger;
  readonly startedAt: number;
  /** The closed mesh this agent belongs to; undefined in an open (development) mesh. */
  readonly mesh: MeshSecrets | undefined;
  /** Devices an operator revoked: refused by the connection gater, their beats and records ignored. */
  readonly #revoked: Set<string>;
  readonly #now: () => number;
  /** How often liveness is judged: twice per heartbeat interval. */
  readonly #tickMs: number;
  #lastTick: number | undefined;
  readonly #random: () => number;
  readonly #knownPeers: KnownPeers;
  readonly #dialer: PeerDialer;
  readonly #peerExchange: PeerExchange;
  readonly #introductions: Introductions;
  readonly #timers: NodeJS.Timeout[] = [];
  #beat = 0;
  #state: StateService | undefined;
  #workloads: Workloads | undefined;
  #allocLogs: AllocLogsProtocol | undefined;
  #registry: RegistryService | undefined;
  #stopping: Promise<void> | undefined;
  readonly #livenessListeners = new Set<(changes: LivenessChange[]) => void>();

  private constructor(init: {
    config: AgentConfig;
    host: MeshHost;
    knownPeers: KnownPeers;
    env: AgentEnvironment;
    now: () => number;
    mesh: MeshSecrets | undefined;
    revoked: Set<string>;
  }) {
    this.config = init.config;
    this.mesh = init.mesh;
    this.#revoked = init.revoked;
    this.host = init.host;
    this.log = init.env.log;
    this.#now = init.now;
    this.#tickMs = Math.max(250, Math.floor(init.config.heartbeatIntervalMs / 2));
    this.#random = init.env.random ?? Math.random;
    this.startedAt = init.now();
    this.#knownPeers = init.knownPeers;
    this.metrics = new MeshMetrics({ processMetrics: init.env.processMetrics ?? true });
    this.limits = new InboundLimits(this.metrics, this.log, init.now);
    this.gossip = new GossipBus(init.host.services.pubsub, this.metrics, this.limits);
    this.liveness = new LivenessView({
      suspectAfterMs: init.config.suspectAfterMs,
      lostAfterMs: init.config.lostAfterMs,
      forgetAfterMs: 24 * 60 * 60_000,
    });
    this.#dialer = new PeerDialer(
      init.host,
      init.knownPeers,
      {
        join: [...init.config.join, ...(init.mesh?.bootstrap ?? [])],
        targetPeers: init.config.targetPeers,
        tickMs: Math.min(1_000, init.config.heartbeatIntervalMs),
        dialTimeoutMs: 10_000,
        backoff: { baseMs: 500, capMs: 60_000 },
        now: init.now,
        random: init.env.random ?? Math.random,
      },
      this.log,
    );
    this.livenessExchange = new LivenessExchange(
      {
        host: init.host,
        log: this.log,
        random: this.#random,
        now: init.now,
        limits: this.limits,
        peers: () => this.#digestPeers(),
        deliver: (from, entries) => this.#onDigest(from, entries),
        alive: (peer) => this.liveness.get(peer, this.#now())?.status === 'alive',
      },
      {
        intervalMs: init.config.heartbeatIntervalMs,
        idleMs: 3 * init.config.lostAfterMs,
        timeoutMs: 10_000,
        linkQuietMs: init.config.suspectAfterMs,
      },
    );
    this.#introductions = new Introductions(
      init.host,
      {
        maxConnections: init.config.maxConnections,
        // A newcomer's identify, peer exchange (5 s timeout) and first digest all start when it connects.
        graceMs: 10_000,
        lingerMs: 1_000,
        introduced: () => this.metrics.introductions.inc(),
      },
      this.log,
    );
    this.#peerExchange = new PeerExchange(
      init.host,
      init.knownPeers,
      {
        random: init.env.random ?? Math.random,
        now: init.now,
        timeoutMs: 5_000,
        limits: this.limits,
        served: (peer) => this.#introductions.served(peer),
      },
      this.log,
    );
  }

  static async start(config: AgentConfig, env: AgentEnvironment): Promise<Agent> {
    const now = env.now ?? Date.now;
    await prepareDataDir(config.dataDir);
    const identity = await loadOrCreateIdentity(config.dataDir);
    const mesh = await resolveMembership(config.dataDir, config.joinToken, env.log);
    const revoked = new Set<string>();
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
      connectionGater: revocationGater((peer) => revoked.has(peer), env.connectionGater),
      psk: mesh?.psk,
    });
    const agent = new Agent({ config, host, knownPeers, env, now, mesh, revoked });
    await agent.#peerExchange.start();
    agent.#introductions.start();
    await agent.livenessExchange.start();
    try {
      agent.#state = await StateService.start(
        {
          host,
          gossip: agent.gossip,
          limits: agent.limits,
          config,
          log: env.log,
          now,
          random: env.random ?? Math.random,
          sign: (bytes) => identity.key.sign(bytes) as Uint8Array,
          operators: mesh?.operators,
          syncEnded: (role, outcome, error) => {
            agent.metrics.stateSyncSessions.inc({ role, outcome });
            const reason = error === undefined ? undefined : stallReason(error);
            if (reason) agent.metrics.stateSyncStalls.inc({ role, reason });
          },
        },
        env.state,
      );
      const state = agent.#state;
      agent.metrics.watchSyncSessions(() => state.activeSyncs().map((s) => s.ageMs));
      agent.#registry = await agent.#startRegistry(agent.#state, env);
      agent.#workloads = await agent.#startWorkloads(agent.#state, env);
      agent.#allocLogs = await agent.#startAllocLogs(agent.#state, agent.#workloads);
    } catch (err) {
      await agent.#workloads?.stop();
      await agent.#registry?.stop();
      await agent.#state?.stop();
      await agent.livenessExchange.stop();
      agent.#introductions.stop();
      await host.stop();
      throw err;
    }
    agent.#wire();
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

  async #startWorkloads(state: StateService, env: AgentEnvironment): Promise<Workloads> {
    const workloads = await Workloads.start({
      self: this.peerId,
      config: this.config,
      log: this.log,
      now: this.#now,
      state: state.state,
      publish: (messages) => state.publish(messages),
      persist: () => state.store.flush(),
      drivers: state.drivers,
      liveness: () => this.#placementLiveness(state),
      trustRoot: this.mesh && trustRootOf(this.mesh.operators),
      imageMirror: () => this.#registry?.endpoint,
      tuning: env.workloads,
      makeDriver: env.makeDriver,
    });
    state.onChange(() => workloads.changed());
    state.onChange(() => this.#applyRevocations(state, workloads));
    this.#applyRevocations(state, workloads);
    this.onLivenessChange(() => workloads.changed());
    return workloads;
  }

  async #startAllocLogs(state: StateService, workloads: Workloads): Promise<AllocLogsProtocol> {
    const protocol = new AllocLogsProtocol({
      host: this.host,
      log: this.log,
      local: localAllocLogs({
        self: this.peerId,
        view: ownerView(state.state, workloads.placement),
        now: this.#now,
        logs: (allocId, options) => workloads.logs(allocId, options),
      }),
    });
    await protocol.start();
    return protocol;
  }

  /** Logs of any allocation: served to other agents, and asked of them (`meshctl alloc logs`). */
  get allocLogs(): AllocLogsProtocol {
    if (!this.#allocLogs) throw new Error('the agent has not started its log service');
    return this.#allocLogs;
  }

  #startRegistry(state: StateService, env: AgentEnvironment): Promise<RegistryService> {
    const { config } = this;
    return RegistryService.start({
      self: this.peerId,
      host: this.host,
      gossip: this.gossip,
      dataDir: config.dataDir,
      labels: config.labels,
      settings: {
        listen: config.registryListen,
        cacheMb: config.registryCacheMb,
        insecure: config.registryInsecure,
        authFile: config.registryAuthFile,
      },
      inUseImages: () => this.#imagesInUse(state),
      ...(state.state.closed
        ? { acceptsRemotePrepull: (ref: string) => this.#jobImages(state).has(normalImage(ref)) }
        : {}),
      log: this.log,
      ...(env.registry ? { tuning: env.registry } : {}),
    });
  }

  /** Images of the copies this node runs or is about to start: the store never evicts their blobs. */
  #imagesInUse(state: StateService): string[] {
    const copies = new Map<string, number>();
    for (const a of state.state.allocations())
      if (a.node === this.peerId && !['complete', 'failed', 'lost'].includes(a.state))
        copies.set(a.job, a.jobVersion);
    for (const row of this.#workloads?.placement.allocs() ?? [])
      if (row.node === this.peerId && row.desired !== 'stop') copies.set(row.job, row.jobVersion);
    const images = new Set<string>();
    for (const [job, version] of copies) {
      const view = state.state.job(job);
      const entry = jobVersion(view, version) ?? view?.current;
      const spec = entry ? this.#readSpec(entry) : undefined;
      if (spec?.ok && spec.value.driver === 'docker' && spec.value.image) images.add(spec.value.image);
    }
    return [...images];
  }

  /** Images named by any version of any job in the state (in a closed mesh: operator-signed ones only). */
  #jobImages(state: StateService): Set<string> {
    const images = new Set<string>();
    for (const view of state.state.jobs())
      for (const entry of view.history) {
        const spec = this.#readSpec(entry);
        if (spec.ok && spec.value.driver === 'docker') images.add(normalImage(spec.value.image));
      }
    return images;
  }

  /** Through placement's cache: every version placement reads is validated once, not once per question. */
  #readSpec(entry: JobVersion): Result<JobSpec> {
    return this.#workloads?.placement.specs.read(entry) ?? readJobSpec(entry);
  }

  /** Image sharing: the layer store, the protocol between agents, the endpoint Docker pulls through. */
  get registry(): RegistryService {
    if (!this.#registry) throw new Error('the agent has not started its registry');
    return this.#registry;
  }

  #placementLiveness(state: StateService): PeerLiveness[] {
    const now = this.#now();
    return placementLiveness({
      heard: this.liveness.list(now).map(({ peerId, status, lastSeen }) => ({ peerId, status, lastSeen })),
      recorded: state.state.nodes().map((n) => n.peerId),
      leaving: state.state.nodes().flatMap((n) => (n.leaving === undefined ? [] : [n.peerId])),
      self: this.peerId,
      startedAt: this.startedAt,
      now,
      lostAfterMs: this.config.lostAfterMs,
    });
  }

  /** Placement of every allocation in the mesh, and the reconciler running this node's share. */
  get workloads(): Workloads {
    if (!this.#workloads) throw new Error('the agent has not started its workloads');
    return this.#workloads;
  }

  /** Replicated jobs and nodes. */
  get state(): StateService {
    if (!this.#state) throw new Error('the agent has not started its state');
    return this.#state;
  }

  addresses(): string[] {
    return this.host.getMultiaddrs().map((ma) => ma.toString());
  }

  /** Subscribe to liveness transitions (alive/suspect/lost/forgotten, restarts). */
  onLivenessChange(listener: (changes: LivenessChange[]) => void): () => void {
    this.#livenessListeners.add(listener);
    return () => this.#livenessListeners.delete(listener);
  }

  #wire(): void {
    this.host.addEventListener('peer:identify', (evt) => {
      const { peerId, listenAddrs } = evt.detail;
      const addresses = dialableAddresses(listenAddrs.map((a) => a.toString()));
      if (addresses.length > 0) this.#knownPeers.remember(peerId.toString(), addresses, this.#now());
      this.#askForPeers(peerId);
    });
    this.#every(this.#tickMs, () => this.#tickLiveness());
    this.#every(60_000, () => void this.#saveKnownPeers());
    this.#every(10_000, () => this.#askRandomPeer());
    this.#dialer.start();
    // The first digest at once: a newcomer learns the mesh's addresses from its bootstrap peer's answer.
    this.livenessExchange.round();
  }

  #every(ms: number, fn: () => void): void {
    this.#timers.push(setInterval(fn, ms).unref());
  }

  /**
   * Cuts off devices newly revoked in the trust document: the gater refuses them from now on, open connections
   * close, and they leave the liveness view (placement already ignores their records). Revoked itself, this
   * device stops its own workloads.
   */
  #applyRevocations(state: StateService, workloads: Workloads): void {
    for (const peer of state.state.trust().revoked) {
      if (this.#revoked.has(peer)) continue;
      this.#revoked.add(peer);
      if (peer === this.peerId) {
        this.log.error('this device has been revoked by an operator: the mesh refuses it');
        // Members re-place its copies now; running them here too would exceed every job's count.
        void workloads.fence().catch((err: unknown) => this.log.error({ err }, 'self-fencing failed'));
        continue;
      }
      this.log.warn({ peer }, 'device revoked: refusing and dropping it');
      this.liveness.forget(peer);
      // Open connections close a moment later, not at once: long enough for the gossiped revocation to reach
      // the device, so that an unmodified one fences itself instead of running copies members re-place. What
      // it sends meanwhile is already ignored, and the gater refuses any new connection from now on.
      const close = setTimeout(() => {
        for (const conn of this.host.getConnections()) {
          if (conn.remotePeer.toString() === peer)
            void conn.close().catch((err: unknown) => conn.abort(err as Error));
        }
      }, REVOCATION_NOTICE_MS);
      close.unref();
      this.#timers.push(close);
    }
  }

  /** This round's digest: this agent's next beat, and every peer it still hears (alive or suspect). */
  #digestPeers(): DescribedPeer[] {
    const now = this.#now();
    const self = {
      peerId: this.peerId,
      incarnation: this.startedAt,
      beat: this.#beat++,
      name: this.config.name,
      addresses: dialableAddresses(this.addresses()),
    };
    const peers: DescribedPeer[] = [self];
    for (const { peerId, incarnation, beat, name, addresses } of this.liveness.heard(now))
      if (!this.#revoked.has(peerId)) peers.push({ peerId, incarnation, beat, name, addresses });
    return peers;
  }

  #onDigest(from: string, entries: readonly DigestEntry[]): void {
    if (this.#revoked.has(from)) return;
    const now = this.#now();
    const changes: LivenessChange[] = [];
    for (const entry of entries) {
      if (entry.peerId === this.peerId || this.#revoked.has(entry.peerId)) continue;
      // Most entries are a bare beat, most of them one already heard from another neighbour: no copies for those.
      let change: LivenessChange | undefined;
      if (entry.addresses) {
        const addresses = dialableAddresses(entry.addresses);
        change = this.liveness.observe(entry.peerId, now, { ...entry, addresses });
        this.#knownPeers.remember(entry.peerId, addresses, now);
      } else change = this.liveness.observe(entry.peerId, now, entry);
      if (change) changes.push(change);
    }
    if (changes.length > 0) this.#emitLiveness(changes);
  }

  #tickLiveness(): void {
    const now = this.#now();
    const late = this.#lastTick === undefined ? 0 : now - this.#lastTick - this.#tickMs;
    this.#lastTick = now;
    // More than a tick late: this agent's own event loop stalled, and the beats that arrived meanwhile still wait
    // in its sockets. The stall is not the peers' silence.
    if (late > this.#tickMs) {
      this.liveness.excuse(late, now);
      this.log[late >= this.config.suspectAfterMs ? 'warn' : 'debug'](
        { stalledMs: late },
        'this agent stalled: not counting the stall against its peers',
      );
    }
    const changes = this.liveness.tick(now);
    if (changes.length > 0) this.#emitLiveness(changes);
    const counts = this.liveness.counts(now);
    for (const [status, n] of Object.entries(counts)) this.metrics.peers.set({ liveness: status }, n);
    const connections = this.host.getConnections();
    this.metrics.connections.set(connections.length);
    for (const conn of connections) if (conn.rtt !== undefined) this.metrics.rtt.observe(conn.rtt / 1000);
    this.#closeSilentLinks(now);
  }

  /**
   * A link that has been open past the lost period while its peer's beats never arrive is broken above
   * TCP (seen under load: a gossipsub stream that failed to open is never retried). Closing it lets the dialer
   * build a fresh one, instead of a newcomer staying attached to one peer that relays nothing to it.
   */
  #closeSilentLinks(now: number): void {
    for (const conn of this.host.getConnections()) {
      const peer = conn.remotePeer.toString();
      if (now - conn.timeline.open < this.config.lostAfterMs) continue;
      // Suspect is only slow (a loaded device); lost or never heard is what a broken link looks like.
      const status = this.liveness.get(peer, now)?.status;
      if (status === 'alive' || status === 'suspect') continue;
      this.log.warn({ peer }, 'closing a link that carries no beats');
      void conn.close().catch((err: unknown) => conn.abort(err as Error));
    }
  }

  /** Short of links: ask `peer` whom it knows, so the dialer has candidates beyond the bootstrap peer. */
  #askForPeers(peer: PeerId): void {
    if (this.host.getPeers().length >= this.config.targetPeers) return;
    void this.#peerExchange.request(peer).then((offered) => {
      if (offered > 0) this.#dialer.tick();
    });
  }

  #askRandomPeer(): void {
    const peers = this.host.getPeers();
    const peer = peers[Math.floor(this.#random() * peers.length)];
    if (peer) this.#askForPeers(peer);
  }

  #emitLiveness(changes: LivenessChange[]): void {
    for (const change of changes) {
      const level = change.to === 'alive' ? 'info' : 'warn';
      this.log[level](
        { peer: change.peerId, peerName: change.name, from: change.from, to: change.to },
        'peer liveness',
      );
    }
    for (const listener of this.#livenessListeners) listener(changes);
  }

  async #saveKnownPeers(): Promise<void> {
    try {
      await this.#knownPeers.save();
    } catch (err) {
      this.log.warn({ err }, 'could not save known peers');
    }
  }

  status(): AgentStatus {
    const now = this.#now();
    return {
      peerId: this.peerId,
      name: this.config.name,
      version: VERSION,
      labels: this.config.labels,
      addresses: this.addresses(),
      peers: this.liveness.counts(now),
      connections: this.host.getConnections().length,
      startedAt: this.startedAt,
      uptimeSeconds: Math.floor((now - this.startedAt) / 1000),
      dialErrors: this.#dialer.errors.list(),
    };
  }

  peers(): PeerInfo[] {
    const now = this.#now();
    const rtt = new Map<string, number>();
    const connected = new Set<string>();
    for (const conn of this.host.getConnections()) {
      const id = conn.remotePeer.toString();
      connected.add(id);
      if (conn.rtt !== undefined) rtt.set(id, Math.min(conn.rtt, rtt.get(id) ?? Number.POSITIVE_INFINITY));
    }
    return this.liveness.list(now).map((view) => ({
      peerId: view.peerId,
      name: view.name,
      addresses: view.addresses,
      liveness: view.status,
      lastSeen: view.lastSeen,
      connected: connected.has(view.peerId),
      rttMs: rtt.get(view.peerId) ?? null,
    }));
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#dialer.stop();
    this.#introductions.stop();
    await this.#saveKnownPeers();
    await this.livenessExchange.stop();
    await this.#allocLogs?.stop();
    // Workloads keep running: an agent restart adopts them instead of starting them again.
    await this.#workloads?.stop();
    await this.#registry?.stop();
    await this.#state?.stop();
    await this.host.stop();
    this.log.info({ peerId: this.peerId }, 'agent stopped');
  }
}

function normalImage(image: string): string {
  const ref = parseImageRef(image);
  return ref ? formatImageRef(ref) : image;
}
