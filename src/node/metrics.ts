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

  constructor(opts: { processMetrics: boolean }) {
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
