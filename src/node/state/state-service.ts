import { randomBytes } from 'node:crypto';
import { arch, availableParallelism, platform, totalmem } from 'node:os';
import { canonicalJson } from '../../crdt/canonical-json.js';
import { decodeGossip, encodeGossip, MAX_GOSSIP_BYTES, STATE_TOPIC } from '../../crdt/gossip-codec.js';
import type { JobEvent } from '../../crdt/job-log.js';
import type { JobSpec } from '../../crdt/job-spec.js';
import {
  actorFor,
  type CommitOutcome,
  type GossipMessage,
  MeshState,
  type StatusOutcome,
  type SubmitOutcome,
} from '../../crdt/mesh-state.js';
import type { Sign } from '../../crdt/signature.js';
import { type TrustChange, trustRootOf } from '../../crdt/trust.js';
import { backoffDelay } from '../../lib/backoff.js';
import type { Logger } from '../../lib/logger.js';
import { isDirect } from '../../lib/p2p/newest-connection.js';
import type { DriverName } from '../drivers/driver.js';
import { offeredDevices } from '../drivers/offered-devices.js';
import { offeredDrivers } from '../drivers/offered-drivers.js';
import { INBOUND_LIMITS, type InboundLimits } from '../net/inbound-limits.js';
import type { MeshHost } from '../net/libp2p-host.js';
import { dialableAddresses } from '../net/peer-dialer.js';
import { PeerRetries } from '../net/peer-retries.js';
import { loadAutomerge } from '../setup/automerge-wasm.js';
import type { AgentConfig } from '../setup/config.js';
import { DurableWrites } from './durable-write.js';
import type { GossipBus } from './gossip-bus.js';
import { localNodeRecord } from './local-node-record.js';
import { type LoadReport, StateStore } from './state-store.js';
import {
  STATE_SYNC_PROTOCOL,
  StateSyncProtocol,
  type SyncFailure,
  type SyncOutcome,
  type SyncProtocolDeps,
} from './state-sync-protocol.js';

/**
 * The imperative shell around MeshState: loads and persists it (StateStore), gossips every local change at once
 * on `/mycel/state/1`, applies what peers gossip, and repairs what gossip lost with anti-entropy sessions: on
 * connect, when changes arrive whose dependencies are missing, and periodically with a random connected peer.
 */
export { STATE_TOPIC } from '../../crdt/gossip-codec.js';

export interface StateServiceOptions {
  /** Mean period of anti-entropy with a random connected peer; each wait is jittered to 50–150 %. */
  readonly syncIntervalMs: number;
  readonly sessionTimeoutMs: number;
  /** A session that moves no byte this long is torn down and retried (state-sync-protocol.ts). */
  readonly progressTimeoutMs: number;
  /** Batched background flushes; `job run` flushes on its own before it answers. */
  readonly flushIntervalMs: number;
  readonly maxInboundSessions: number;
}

export const DEFAULT_STATE_OPTIONS: StateServiceOptions = {
  syncIntervalMs: 30_000,
  sessionTimeoutMs: 30_000,
  progressTimeoutMs: 5_000,
  flushIntervalMs: 30_000,
  maxInboundSessions: 8,
};

export interface StateServiceDeps {
  readonly host: MeshHost;
  readonly gossip: GossipBus;
  readonly limits: InboundLimits;
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly now: () => number;
  readonly random: () => number;
  /** Signs with this node's identity: its records carry its signature (owned records). */
  readonly sign?: Sign;
  /** The closed mesh's initial operator keys; undefined for an open mesh. */
  readonly operators?: readonly string[];
  /** This device's X25519 public key for the node record (membership/seal-key.ts). */
  readonly sealKey?: string;
  /** Each anti-entropy session's end, by role and outcome (the agent counts them in its metrics). */
  readonly syncEnded?: SyncProtocolDeps['ended'];
}

/**
 * How soon to try again with another peer while documents still miss dependencies after a session; doubled
 * (up to the sync interval) while the same documents stay incomplete: a change whose dependencies exist
 * nowhere (a hostile peer's, or one whose history was compacted away) must not cost a session every 500 ms.
 */
const MISSING_DEPS_RETRY_MS = 500;
/** First retry of a failed session with the same peer; doubles per failure in a row up to the sync interval. */
const SYNC_RETRY_MS = 1_000;
/** A change too big for gossip is pushed by sync to this many peers; they gossip nothing, sync spreads it. */
const OVERSIZE_PUSH_PEERS = 3;
/** How soon after a change what the replica ignored is logged. */
const IGNORED_LOG_DELAY_MS = 1_000;

export class StateService {
  readonly state: MeshState;
  readonly store: StateStore;
  readonly loadReport: LoadReport;
  readonly #deps: StateServiceDeps;
  readonly #options: StateServiceOptions;
  readonly #protocol: StateSyncProtocol;
  readonly #drivers: readonly DriverName[];
  /** Peers whose session was asked for again while one was running: run one more when it ends. */
  readonly #again = new Set<string>();
  /**
   * A failed session is tried again with the same peer after a backoff, not left to the next periodic round: the
   * protocol takes another connection (or closes one that keeps stalling), so a wedge heals in seconds.
   */
  readonly #retries: PeerRetries;
  readonly #listeners = new Set<() => void>();
  readonly #writes: DurableWrites;
  readonly writes: DurableWrites; // the same, for writes outside this file (variables: api/routes/var-routes.ts)
  #periodic: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #ignoredLog: NodeJS.Timeout | undefined;
  #announcedAt = Number.NEGATIVE_INFINITY;
  /** The documents missing dependencies at the last retry, and how many retries in a row found the same. */
  #stillMissing = { docs: '', retries: 0 };
  #stopped = false;
  /** Set by `announceLeave`: every record written after it still says so, whatever changes (addresses). */
  #leavingAt: number | undefined;

  private constructor(init: {
    deps: StateServiceDeps;
    options: StateServiceOptions;
    state: MeshState;
    store: StateStore;
    protocol: StateSyncProtocol;
    drivers: readonly DriverName[];
    loadReport: LoadReport;
  }) {
    this.#deps = init.deps;
    this.#options = init.options;
    this.state = init.state;
    this.store = init.store;
    this.#writes = this.writes = new DurableWrites(this.state, this.store, (m) => this.publish(m));
    this.#protocol = init.protocol;
    this.#drivers = init.drivers;
    this.loadReport = init.loadReport;
    this.#retries = new PeerRetries({
      policy: { baseMs: SYNC_RETRY_MS, capMs: Math.max(SYNC_RETRY_MS, init.options.syncIntervalMs) },
      maxPeers: 64,
      random: init.deps.random,
      retry: (peer) => this.#requestSync(peer),
    });
  }

  static async start(
    deps: StateServiceDeps,
    overrides: Partial<StateServiceOptions> = {},
  ): Promise<StateService> {
    const options = { ...DEFAULT_STATE_OPTIONS, ...overrides };
    await loadAutomerge();
    const self = deps.host.peerId.toString();
    const state = new MeshState({
      self,
      actor: actorFor(self, randomBytes(16)),
      sign: deps.sign,
      operators: deps.operators,
    });
    const { store, peerStates, report } = await StateStore.open(
      { dataDir: deps.config.dataDir, flushIntervalMs: options.flushIntervalMs, log: deps.log },
      state,
    );
    const drivers = await offeredDrivers(deps.config, deps.log);
    let service: StateService | undefined;
    const protocol = new StateSyncProtocol(
      {
        host: deps.host,
        state,
        peerStates,
        now: deps.now,
        log: deps.log,
        admit: (peer) => deps.limits.admit('sync', peer, INBOUND_LIMITS.sync),
        publish: (messages) => service?.publish(messages),
        received: () => {
          if (service) service.#changed();
        },
        ended: deps.syncEnded,
      },
      {
        sessionTimeoutMs: options.sessionTimeoutMs,
        progressTimeoutMs: options.progressTimeoutMs,
        maxInboundSessions: options.maxInboundSessions,
      },
    );
    service = new StateService({ deps, options, state, store, protocol, drivers, loadReport: report });
    await service.#wire();
    return service;
  }

  get peerId(): string {
    return this.state.self;
  }

  /** The workload drivers this node offers, as its node record says. */
  get drivers(): readonly DriverName[] {
    return this.#drivers;
  }

  async submitJob(spec: JobSpec): Promise<{ name: string; version: number; outcome: SubmitOutcome }> {
    return this.#writes.run(async () => {
      const now = this.#deps.now();
      const plan = this.state.planSubmit(spec.name, spec, this.peerId, now);
      // Durable before acknowledged, and applied only once durable (durable-write.ts).
      if (plan.event) await this.#writes.addJobEvent(spec.name, plan.event, now);
      return { name: spec.name, version: plan.version, outcome: plan.outcome };
    });
  }

  async stopJob(name: string, purge: boolean): Promise<{ name: string; outcome: StatusOutcome }> {
    return this.#writes.run(async () => {
      const now = this.#deps.now();
      const plan = this.state.planStatus(name, purge ? 'purge' : 'stop', this.peerId, now);
      if (plan.event) await this.#writes.addJobEvent(name, plan.event, now);
      return { name, outcome: plan.outcome };
    });
  }

  /** The job event an operator is asked to sign (closed mesh): nothing is written until `commitJob`. */
  planJob(
    name: string,
    action: { kind: 'submit'; spec: JobSpec } | { kind: 'stop' | 'purge' | 'promote' },
    by: string,
  ): { outcome: SubmitOutcome | StatusOutcome; version?: number; event?: JobEvent } {
    const now = this.#deps.now();
    return action.kind === 'submit'
      ? this.state.planSubmit(name, action.spec, by, now)
      : this.state.planStatus(name, action.kind, by, now);
  }

  /** Adds a signed job event; refused (RangeError, with the reason) unless a trusted operator signed it. */
  async commitJob(name: string, event: JobEvent): Promise<{ outcome: CommitOutcome }> {
    return this.#writes.run(async () => {
      const added = await this.#writes.addJobEvent(name, event, this.#deps.now());
      return { outcome: added ? 'added' : 'duplicate' };
    });
  }

  /** Adds an operator-signed trust change (operator added or removed, device revoked). */
  async addTrustChange(change: TrustChange): Promise<{ outcome: CommitOutcome }> {
    return this.#writes.run(async () => {
      const added = await this.#writes.addTrustChange(change, this.#deps.now());
      return { outcome: added ? 'added' : 'duplicate' };
    });
  }

  /** One anti-entropy session with `peer` now (tests, and operators through the API later). */
  syncWith(peer: string): Promise<SyncOutcome> {
    return this.#protocol.sync(peer);
  }

  isSyncing(peer: string): boolean {
    return this.#protocol.isSyncing(peer);
  }

  recentSyncFailures(): readonly SyncFailure[] {
    return this.#protocol.recentFailures();
  }

  activeSyncs(): ReturnType<StateSyncProtocol['activeSessions']> {
    return this.#protocol.activeSessions();
  }

  /**
   * Called after anything may have changed the local replica: a local write, applied gossip, a sync session.
   * Listeners (placement) debounce; a spurious call costs one recomputation.
   */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    this.#scheduleIgnoredLog();
    for (const listener of this.#listeners) listener();
  }

  /**
   * Reads the views so that what they ignore is logged soon after it arrives, not only when someone asks.
   * Coalesced: reading every node's view walks the whole replica, and a burst of gossip must not pay that per
   * message (in a 100-agent mesh it was a tenth of all the work).
   */
  #scheduleIgnoredLog(): void {
    if (this.#ignoredLog || this.#stopped) return;
    this.#ignoredLog = setTimeout(() => {
      this.#ignoredLog = undefined;
      this.state.nodes();
      this.state.jobRejections();
      for (const note of this.state.drainNotes())
        this.#deps.log.warn({ reason: note }, 'ignored replicated entry');
    }, IGNORED_LOG_DELAY_MS);
    this.#ignoredLog.unref();
  }

  /**
   * Gossips changes; one too big for gossip travels by anti-entropy instead. Resolves once gossip has sent
   * them (or given up): only a clean stop waits for that.
   */
  publish(messages: readonly GossipMessage[]): Promise<void> {
    const sent: Promise<unknown>[] = [];
    if (this.#stopped) return Promise.resolve();
    if (messages.length > 0) this.#changed();
    for (const message of messages) {
      const encoded = encodeGossip(message);
      if (!encoded.ok) {
        this.#deps.log.debug(
          { docId: message.docId, reason: encoded.error },
          'change sent by sync, not gossip',
        );
        for (const peer of this.#connectedPeers().slice(0, OVERSIZE_PUSH_PEERS)) this.#requestSync(peer);
        continue;
      }
      sent.push(
        this.#deps.gossip
          .publish(STATE_TOPIC, encoded.value)
          .catch((err: unknown) =>
            this.#deps.log.debug({ err, docId: message.docId }, 'state gossip failed'),
          ),
      );
    }
    return Promise.all(sent).then(() => undefined);
  }

  /**
   * A clean stop about to happen: the owner-signed record says the node is leaving, gossiped at once (and told
   * to late joiners by anti-entropy), so peers replace its copies now rather than after a lost period of silence.
   * Resolves once gossip has taken the change, so the caller may stop the host next.
   */
  async announceLeave(): Promise<void> {
    if (this.#stopped || this.#leavingAt !== undefined) return;
    this.#leavingAt = this.#deps.now();
    await this.#writeOwnRecord();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#periodic);
    clearTimeout(this.#retry);
    this.#retries.stop();
    clearTimeout(this.#ignoredLog);
    await this.#protocol.stop();
    try {
      await this.store.close();
    } catch (err) {
      // A full or read-only disk must not turn a clean stop into a crash: what this last flush held is
      // re-derived (own records, alloc states) or re-synced from peers; acknowledged jobs were stored earlier.
      this.#deps.log.error(
        { err: String(err) },
        'could not store the latest state changes at shutdown; peers hold them and will re-sync them',
      );
    }
  }

  async #wire(): Promise<void> {
    const { host, gossip } = this.#deps;
    gossip.subscribe<GossipMessage>(STATE_TOPIC, {
      maxBytes: MAX_GOSSIP_BYTES,
      rateLimit: INBOUND_LIMITS.state,
      decode: decodeGossip,
      deliver: (from, message) => this.#onGossip(from, message),
    });
    await this.#protocol.start();
    host.addEventListener('peer:identify', (evt) => {
      const { peerId, protocols } = evt.detail;
      const peer = peerId.toString();
      // Both ends see the identify; the smaller id dials so the two do not refuse each other's session.
      if (protocols.includes(STATE_SYNC_PROTOCOL) && this.peerId < peer) this.#requestSync(peer);
    });
    host.addEventListener('self:peer:update', () => void this.#writeOwnRecord());
    gossip.onMeshJoined(STATE_TOPIC, () => this.#announce());
    void this.#writeOwnRecord();
    this.store.start();
    this.#schedulePeriodic();
  }

  #onGossip(from: string, message: GossipMessage): void {
    // A revoked device's content is not even looked at (what it gossiped before is ignored by the views).
    if (this.state.isRevoked(from)) return;
    const outcome = this.state.applyGossip(message, this.#deps.now());
    switch (outcome.kind) {
      case 'applied':
        this.#changed();
        this.publish(outcome.publish);
        return;
      case 'stale-epoch':
      case 'missing-deps':
        this.#requestSync(from);
        return;
      case 'rejected':
        this.#deps.limits.rejected('state gossip', from, `${message.docId}: ${outcome.reason}`);
        return;
      case 'duplicate':
        return;
    }
  }

  /**
   * Gossips this node's whole document once it is in the gossip mesh. Its record was written at start, before
   * any peer could hear it; without this, peers beyond its first neighbours learn it only by anti-entropy, one
   * random peer per sync interval: minutes in a mesh of a hundred, while agents that lack a node's record place
   * copies without it (every agent placed its own duplicates). At most once per sync interval: a flapping link
   * must not flood the mesh.
   */
  #announce(): void {
    const now = this.#deps.now();
    if (this.#stopped || now - this.#announcedAt < this.#options.syncIntervalMs) return;
    this.#announcedAt = now;
    this.publish(this.state.announceOwn());
  }

  /** Writes this node's record when it differs from the stored one, never otherwise (flash wear, history). */
  #writeOwnRecord(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const record = localNodeRecord({
      peerId: this.peerId,
      config: this.#deps.config,
      capacity: { cpu: availableParallelism() * 1000, memory: Math.floor(totalmem() / (1024 * 1024)) },
      drivers: this.#drivers,
      devices: offeredDevices(this.#deps.config.device),
      addresses: dialableAddresses(this.#deps.host.getMultiaddrs().map((a) => a.toString())),
      arch: arch(),
      os: platform(),
      trustRoot: this.#deps.operators && trustRootOf(this.#deps.operators),
      leaving: this.#leavingAt,
      sealKey: this.#deps.sealKey,
    });
    const current = this.state.nodes().find((n) => n.peerId === this.peerId);
    if (current && canonicalJson(current) === canonicalJson(record)) return Promise.resolve();
    return this.publish(this.state.putNodeRecord(record, this.#deps.now()));
  }

  /** Asks for a session with `peer` as gossip gaps do: coalesced with a running one, retried on failure. */
  requestSyncWith(peer: string): void {
    this.#requestSync(peer);
  }

  /** Syncs with `peer` if connected, else with a random connected peer; coalesces requests per peer. */
  #requestSync(peer: string | undefined): void {
    if (this.#stopped) return;
    const connected = this.#connectedPeers();
    const target = peer !== undefined && connected.includes(peer) ? peer : this.#pick(connected);
    if (target === undefined) return;
    if (this.#protocol.isSyncing(target)) {
      this.#again.add(target);
      return;
    }
    void this.#protocol.sync(target).then((outcome) => {
      if (outcome.kind === 'failed') {
        this.#deps.log.debug({ peer: target, error: outcome.error }, 'state sync failed');
      }
      if (this.#again.delete(target)) this.#requestSync(target);
      else if (outcome.kind === 'failed' && outcome.error !== 'not connected') this.#retries.failed(target);
      else if (this.state.missingDeps().length > 0) this.#retrySoon();
      if (outcome.kind === 'synced') this.#retries.succeeded(target);
    });
  }

  #retrySoon(): void {
    if (this.#retry || this.#stopped) return;
    const docs = [...this.state.missingDeps()].sort().join(' ');
    const retries = docs === this.#stillMissing.docs ? this.#stillMissing.retries + 1 : 1;
    this.#stillMissing = { docs, retries };
    const delay = backoffDelay(
      retries,
      { baseMs: MISSING_DEPS_RETRY_MS, capMs: Math.max(MISSING_DEPS_RETRY_MS, this.#options.syncIntervalMs) },
      this.#deps.random(),
    );
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.state.missingDeps().length > 0) this.#requestSync(undefined);
    }, delay);
    this.#retry.unref();
  }

  #schedulePeriodic(): void {
    if (this.#stopped) return;
    const wait = this.#options.syncIntervalMs * (0.5 + this.#deps.random());
    this.#periodic = setTimeout(() => {
      this.#requestSync(undefined);
      this.#schedulePeriodic();
    }, wait);
    this.#periodic.unref();
  }

  #connectedPeers(): string[] {
    const peers = new Set<string>();
    for (const c of this.#deps.host.getConnections())
      if (c.status === 'open' && isDirect(c)) peers.add(c.remotePeer.toString());
    return [...peers];
  }

  #pick(peers: readonly string[]): string | undefined {
    return peers[Math.floor(this.#deps.random() * peers.length)];
  }
}
