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
  /** The fleet as this agent's replica and placement see it; read at scrape time. */
  #fleet: FleetView = EMPTY_FLEET;
  readonly fleetJobs: Gauge = new Gauge({
    name: 'mycel_fleet_jobs',
    help: 'Jobs in this agent replica by what the operator asked (running, stopped)',
    labelNames: ['desired'] as const,
    registers: [this.registry],
    collect: (): void => setAll(this.fleetJobs, 'desired', this.#fleet.jobs()),
  });
  readonly fleetCopies: Gauge = new Gauge({
    name: 'mycel_fleet_copies',
    help: 'Copies the devices of the mesh report, by state (pending, starting, running, failed, complete, lost)',
    labelNames: ['state'] as const,
    registers: [this.registry],
    collect: (): void => setAll(this.fleetCopies, 'state', this.#fleet.copies()),
  });
  readonly fleetUnplaced: Gauge = new Gauge({
    name: 'mycel_fleet_unplaced_copies',
    help: 'Copies this agent placement finds no device for (placement failures)',
    registers: [this.registry],
    collect: (): void => this.fleetUnplaced.set(this.#fleet.unplaced()),
  });
  readonly fleetRollouts: Gauge = new Gauge({
    name: 'mycel_fleet_rollouts',
    help: 'Rollouts of running jobs by phase (canary and running are in progress, paused awaits promotion)',
    labelNames: ['phase'] as const,
    registers: [this.registry],
    collect: (): void => setAll(this.fleetRollouts, 'phase', this.#fleet.rollouts()),
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

  /** Where the fleet gauges read the mesh from. */
  watchFleet(view: FleetView): void {
    this.#fleet = view;
  }

  #processMetrics: boolean;

  /**
   * Node's process metrics (RSS, heap, event loop lag, GC) start at the first scrape, not at start-up: their
   * event-loop-delay monitor and GC observer cost every agent memory and wake-ups, and most devices are never
   * scraped. Counters such as GC runs therefore count from the first scrape.
   */
  constructor(opts: { processMetrics: boolean }) {
    this.#processMetrics = opts.processMetrics;
  }

  /** The exposition text for one scrape. */
  scrape(): Promise<string> {
    if (this.#processMetrics) {
      this.#processMetrics = false;
      collectDefaultMetrics({ register: this.registry });
    }
    return this.registry.metrics();
  }
}

/** Counts by label value, read when Prometheus scrapes. */
export interface FleetView {
  jobs(): Readonly<Record<string, number>>;
  copies(): Readonly<Record<string, number>>;
  unplaced(): number;
  rollouts(): Readonly<Record<string, number>>;
}

const EMPTY_FLEET: FleetView = {
  jobs: () => ({}),
  copies: () => ({}),
  unplaced: () => 0,
  rollouts: () => ({}),
};

/** Replaces a gauge's series: a label value that no longer counts disappears instead of keeping its last value. */
function setAll<L extends string>(gauge: Gauge<L>, label: L, counts: Readonly<Record<string, number>>): void {
  gauge.reset();
  for (const [value, n] of Object.entries(counts)) gauge.set({ [label]: value } as Record<L, string>, n);
}
