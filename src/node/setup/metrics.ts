import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The agent's Prometheus metrics. One registry per agent, so several agents can share a process (simulator). */
export class MeshMetrics {
  readonly registry = new Registry();
  readonly peers = new Gauge({
    name: 'mycel_peers',
    help: 'Peers in this agent view by liveness',
    labelNames: ['liveness'] as const,
    registers: [this.registry],
  });
  readonly connections = new Gauge({
    name: 'mycel_connections',
    help: 'Open libp2p connections',
    registers: [this.registry],
  });
  readonly gossipMessages = new Counter({
    name: 'mycel_gossip_messages_total',
    help: 'Gossip messages by topic and direction (in: delivered to us, out: published by us, rejected: failed validation)',
    labelNames: ['topic', 'direction'] as const,
    registers: [this.registry],
  });
  readonly gossipBytes = new Counter({
    name: 'mycel_gossip_bytes_total',
    help: 'Gossip payload bytes by topic and direction',
    labelNames: ['topic', 'direction'] as const,
    registers: [this.registry],
  });
  readonly inboundDropped = new Counter({
    name: 'mycel_inbound_dropped_total',
    help: 'Inbound requests and messages dropped by the per-peer rate limits, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly stateSyncSessions = new Counter({
    name: 'mycel_state_sync_sessions_total',
    help: 'Anti-entropy sessions by role (dialer, listener) and outcome (synced, busy, refused, failed)',
    labelNames: ['role', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly stateSyncStalls = new Counter({
    name: 'mycel_state_sync_stalls_total',
    help: 'Anti-entropy sessions torn down because no byte moved for the progress timeout (no-progress) or the whole session deadline passed (deadline), by role',
    labelNames: ['role', 'reason'] as const,
    registers: [this.registry],
  });
  /** Read at scrape time, so an idle agent does no work for it. */
  #syncAges: () => readonly number[] = () => [];
  readonly stateSyncActive: Gauge = new Gauge({
    name: 'mycel_state_sync_active_sessions',
    help: 'Anti-entropy sessions running now',
    registers: [this.registry],
    collect: (): void => this.stateSyncActive.set(this.#syncAges().length),
  });
  readonly stateSyncOldest: Gauge = new Gauge({
    name: 'mycel_state_sync_oldest_session_seconds',
    help: 'Age of the oldest running anti-entropy session (0 without one): a wedged session shows here',
    registers: [this.registry],
    collect: (): void => this.stateSyncOldest.set(Math.max(0, ...this.#syncAges()) / 1000),
  });
  readonly introductions = new Counter({
    name: 'mycel_introductions_total',
    help: 'Newcomers this agent answered while at its connection limit, then let go to link elsewhere',
    registers: [this.registry],
  });
  readonly rtt = new Histogram({
    name: 'mycel_peer_rtt_seconds',
    help: 'Round-trip time to directly connected peers, from the connection monitor pings',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2],
    registers: [this.registry],
  });

  /** Where the session gauges read the running sessions' ages in ms. */
  watchSyncSessions(ages: () => readonly number[]): void {
    this.#syncAges = ages;
  }

  constructor(opts: { processMetrics: boolean }) {
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
