import { decodeGossip, encodeGossip } from '../../src/crdt/gossip-codec.js';
import { actorFor, type GossipMessage, MeshState } from '../../src/crdt/mesh-state.js';
import { PeerSyncStates } from '../../src/crdt/peer-sync-states.js';
import { decodeSyncFrame } from '../../src/crdt/sync-codec.js';
import { SyncSession, stateDigest } from '../../src/crdt/sync-engine.js';
import { EventQueue } from './event-queue.js';
import { peerIdOf, probeJob } from './fleet.js';
import { messageDelay } from './latency.js';
import type { ScaleOptions } from './options.js';
import { derive, type Prng } from './prng.js';
import {
  BYTE_KINDS,
  type ByteKind,
  type ChangeTrace,
  type Counters,
  type Event,
  type Message,
  type Replica,
  type Session,
  type Via,
} from './sim-types.js';
import { buildTopology, linkKey, type Topology } from './topology.js';
import {
  controlBytes,
  publishBytes,
  STREAM_OPEN_BYTES,
  summaryEntryBytes,
  syncFrameBytes,
} from './wire-size.js';

/**
 * The discrete-event core: N replicas of the real MeshState (job documents only, real Automerge), connected by
 * a modelled gossipsub overlay and by anti-entropy sessions of the real SyncSession. The clock is simulated;
 * nothing touches a socket, the wall clock or Math.random. What each part models is in README.md.
 */
export const EPOCH_MS = Date.UTC(2026, 0, 1);
export const PROBE_JOB = 'probe';

export class ScaleSimulator {
  readonly options: ScaleOptions;
  readonly topology: Topology;
  readonly peerIds: readonly string[];
  readonly replicas: Replica[];
  readonly changes: ChangeTrace[] = [];
  /** Bytes per node and kind: sent[kind][node]. */
  readonly sent: Record<ByteKind, Float64Array>;
  readonly received: Record<ByteKind, Float64Array>;
  readonly counters: Counters = {
    events: 0,
    gossipPublished: 0,
    rpcDelivered: 0,
    duplicateRpcs: 0,
    lostRpcs: 0,
    iwantServed: 0,
    syncSessions: 0,
    syncSessionsEqual: 0,
    syncFrames: 0,
    syncRetransmits: 0,
    syncErrors: 0,
    oversizeGossip: 0,
    rejectedGossip: 0,
  };
  now = 0;

  private readonly queue = new EventQueue<Event>();
  private readonly messages: Message[] = [];
  private readonly linkBase = new Map<number, number>();
  private readonly activePairs = new Set<number>();
  private readonly isMesh: Set<number>;
  private readonly nodeDocSummaryBytes: number;
  private readonly net: Prng;
  private readonly choice: Prng;

  /**
   * @param payloads the base state every replica holds at time 0 (gossip messages, applied without traffic)
   * @param nodeDocs node documents each summary would list in the real system but the replicas here do not hold
   */
  constructor(options: ScaleOptions, payloads: readonly GossipMessage[], nodeDocs: number) {
    this.options = options;
    const { nodes, seed } = options;
    this.net = derive(seed, 'network');
    this.choice = derive(seed, 'choices');
    this.topology = buildTopology(options, derive(seed, 'topology'));
    this.isMesh = new Set();
    this.topology.mesh.forEach((peers, i) => {
      for (const j of peers) this.isMesh.add(linkKey(i, j, nodes));
    });
    const latencyRandom = derive(seed, 'latency');
    this.topology.connections.forEach((peers, i) => {
      for (const j of peers) {
        const key = linkKey(i, j, nodes);
        if (!this.linkBase.has(key)) this.linkBase.set(key, options.latency.linkBase(latencyRandom));
      }
    });
    this.nodeDocSummaryBytes = Math.ceil(nodeDocs * summaryEntryBytes());
    const zeros = () => new Float64Array(nodes);
    const table = () =>
      Object.fromEntries(BYTE_KINDS.map((k) => [k, zeros()])) as Record<ByteKind, Float64Array>;
    this.sent = table();
    this.received = table();
    const sessionSeeds = derive(seed, 'actors');
    this.peerIds = Array.from({ length: nodes }, (_, i) => peerIdOf(i));
    this.replicas = this.peerIds.map((self) => {
      const actorSeed = Uint8Array.from({ length: 16 }, () => sessionSeeds.int(256));
      const state = new MeshState({ self, actor: actorFor(self, actorSeed) });
      for (const message of payloads) state.applyGossip(message, EPOCH_MS);
      state.drainDirty();
      return {
        state,
        peerStates: new PeerSyncStates(),
        seen: new Set<number>(),
        mcache: [],
        dontWant: new Map(),
        hb: 0,
        uplinkFreeAt: 0,
      };
    });
    const phases = derive(seed, 'phases');
    for (let i = 0; i < nodes; i++) {
      this.queue.push(phases.next() * options.heartbeatMs, { k: 'heartbeat', node: i });
      if (options.antiEntropyMs > 0)
        this.queue.push(this.antiEntropyWait(phases), { k: 'anti-entropy', node: i });
    }
    for (let c = 0; c < options.changes; c++)
      this.queue.push(options.firstChangeAtMs + c * options.changeIntervalMs, { k: 'submit', change: c });
  }

  /** The base one-way latency of a connection, by linkKey (0 for pairs never connected). */
  linkLatency(key: number): number {
    return this.linkBase.get(key) ?? 0;
  }

  /** Runs the agenda until the simulated duration has passed. */
  run(): void {
    for (;;) {
      const next = this.queue.pop();
      if (next === undefined || next.at > this.options.durationMs) break;
      this.now = next.at;
      this.counters.events++;
      this.handle(next.event);
    }
    this.now = this.options.durationMs;
  }

  /** stateDigest of every replica, hex: equal strings mean equal replicated state. */
  digests(): string[] {
    return this.replicas.map((r) => Buffer.from(stateDigest(r.state.summaries())).toString('hex'));
  }

  get absoluteNow(): number {
    return EPOCH_MS + this.now;
  }

  private handle(event: Event): void {
    switch (event.k) {
      case 'rpc':
        this.onRpc(event.to, event.from, event.msg, event.via);
        return;
      case 'validated':
        this.onValidated(event.node, event.from, event.msg, event.via);
        return;
      case 'ihave':
        this.onIhave(event.to, event.from, event.ids);
        return;
      case 'iwant':
        this.onIwant(event.to, event.from, event.ids);
        return;
      case 'idontwant': {
        const wanted = this.replicas[event.to]!.dontWant;
        const peers = wanted.get(event.msg) ?? new Set<number>();
        peers.add(event.from);
        wanted.set(event.msg, peers);
        return;
      }
      case 'heartbeat':
        this.onHeartbeat(event.node);
        return;
      case 'anti-entropy': {
        const peers = this.topology.connections[event.node]!;
        if (peers.length > 0) this.startSession(event.node, peers[this.choice.int(peers.length)]!);
        this.queue.push(this.now + this.antiEntropyWait(this.choice), event);
        return;
      }
      case 'frame':
        this.onFrame(event.session, event.toDialer, event.frame);
        return;
      case 'submit':
        this.onSubmit(event.change);
        return;
    }
  }

  // ---- the network: uplink queue, latency, loss ----

  /**
   * Queues `bytes` on the sender's uplink and delivers `event` after the link's latency. Gossip RPCs are lost
   * with probability `loss`; reliable sends (sync frames on a TCP stream) are delayed by a retransmission
   * timeout per loss instead.
   */
  private send(
    from: number,
    to: number,
    bytes: number,
    kind: ByteKind,
    event: Event,
    reliable: boolean,
  ): void {
    const sender = this.replicas[from]!;
    const start = Math.max(this.now, sender.uplinkFreeAt);
    sender.uplinkFreeAt = start + (bytes * 8) / (this.options.uplinkMbps * 1000);
    this.sent[kind][from]! += bytes;
    const base = this.linkBase.get(linkKey(from, to, this.options.nodes)) ?? 0;
    let delay = messageDelay(base, this.net);
    if (reliable) {
      const rto = Math.max(200, 4 * base);
      while (this.net.chance(this.options.loss)) {
        delay += rto;
        this.counters.syncRetransmits++;
      }
    } else if (this.net.chance(this.options.loss)) {
      this.counters.lostRpcs++;
      return;
    }
    this.received[kind][to]! += bytes;
    this.queue.push(sender.uplinkFreeAt + delay, event);
  }

  // ---- gossipsub ----

  private publish(node: number, messages: readonly GossipMessage[]): void {
    for (const message of messages) {
      const encoded = encodeGossip(message);
      if (!encoded.ok) {
        // meshd pushes such a change by sync instead; anti-entropy carries it here.
        this.counters.oversizeGossip++;
        continue;
      }
      this.originate(node, encoded.value);
    }
  }

  private originate(node: number, data: Uint8Array): void {
    const id = this.messages.length;
    this.messages.push({ publisher: node, data, wire: publishBytes(data.length) });
    this.counters.gossipPublished++;
    const replica = this.replicas[node]!;
    replica.seen.add(id);
    replica.mcache.push({ id, hb: replica.hb });
    // floodPublish is off in meshd: a publisher sends to its mesh peers only.
    for (const peer of this.topology.mesh[node]!) this.sendMessage(node, peer, id, 'mesh');
  }

  private sendMessage(from: number, to: number, msg: number, via: Via): void {
    const message = this.messages[msg]!;
    this.send(from, to, message.wire, 'publish', { k: 'rpc', to, from, msg, via }, false);
  }

  private onRpc(to: number, from: number, msg: number, via: Via): void {
    this.counters.rpcDelivered++;
    const replica = this.replicas[to]!;
    const message = this.messages[msg]!;
    if (replica.seen.has(msg)) {
      this.counters.duplicateRpcs++;
      return;
    }
    replica.seen.add(msg);
    // Gossipsub 1.2 tells its other mesh peers before validating, for messages of 512 bytes and more.
    if (message.data.length >= this.options.idontwantMinBytes) {
      const bytes = controlBytes('idontwant', 1);
      for (const peer of this.topology.mesh[to]!) {
        if (peer !== from)
          this.send(to, peer, bytes, 'idontwant', { k: 'idontwant', to: peer, from: to, msg }, false);
      }
    }
    this.queue.push(this.now + this.options.processMs, { k: 'validated', node: to, from, msg, via });
  }

  private onValidated(node: number, from: number, msg: number, via: Via): void {
    const replica = this.replicas[node]!;
    const message = this.messages[msg]!;
    // The topic validator: the real decoder, on every first receipt.
    const decoded = decodeGossip(message.data);
    if (!decoded.ok) {
      this.counters.rejectedGossip++;
      return;
    }
    const outcome = replica.state.applyGossip(decoded.value, this.absoluteNow);
    if (outcome.kind === 'applied') {
      this.observe(node, via);
      this.publish(node, outcome.publish);
    } else if (outcome.kind === 'stale-epoch' || outcome.kind === 'missing-deps') {
      // meshd syncs with the publisher when connected to it, else with a random connected peer.
      const peers = this.topology.connections[node]!;
      const target = peers.includes(message.publisher)
        ? message.publisher
        : peers[this.choice.int(peers.length)];
      if (target !== undefined) this.startSession(node, target);
    } else if (outcome.kind === 'rejected') this.counters.rejectedGossip++;
    replica.mcache.push({ id: msg, hb: replica.hb });
    const dontWant = replica.dontWant.get(msg);
    for (const peer of this.topology.mesh[node]!) {
      if (peer === from || peer === message.publisher || dontWant?.has(peer)) continue;
      this.sendMessage(node, peer, msg, 'mesh');
    }
  }

  private onHeartbeat(node: number): void {
    const o = this.options;
    const replica = this.replicas[node]!;
    replica.hb++;
    const keepFrom = replica.hb - o.historyLength;
    while (replica.mcache.length > 0 && replica.mcache[0]!.hb < keepFrom) {
      replica.dontWant.delete(replica.mcache.shift()!.id);
    }
    if (o.lazyGossip) {
      const gossipFrom = replica.hb - o.historyGossip;
      const ids = replica.mcache.filter((e) => e.hb >= gossipFrom).map((e) => e.id);
      if (ids.length > 0) {
        const candidates = [...this.topology.connections[node]!].filter(
          (peer) => !this.isMesh.has(linkKey(node, peer, o.nodes)),
        );
        const count = Math.max(o.Dlazy, Math.floor(o.gossipFactor * candidates.length));
        const bytes = controlBytes('ihave', ids.length);
        for (const peer of this.choice.sample(candidates, count)) {
          this.send(node, peer, bytes, 'ihave', { k: 'ihave', to: peer, from: node, ids }, false);
        }
      }
    }
    this.queue.push(this.now + o.heartbeatMs, { k: 'heartbeat', node });
  }

  private onIhave(to: number, from: number, ids: readonly number[]): void {
    const seen = this.replicas[to]!.seen;
    const wanted = ids.filter((id) => !seen.has(id));
    if (wanted.length === 0) return;
    this.send(
      to,
      from,
      controlBytes('iwant', wanted.length),
      'iwant',
      { k: 'iwant', to: from, from: to, ids: wanted },
      false,
    );
  }

  private onIwant(to: number, from: number, ids: readonly number[]): void {
    const cached = new Set(this.replicas[to]!.mcache.map((e) => e.id));
    for (const id of ids) {
      if (!cached.has(id)) continue;
      this.counters.iwantServed++;
      this.sendMessage(to, from, id, 'lazy');
    }
  }

  // ---- anti-entropy: the real sync engine, frame by frame ----

  private antiEntropyWait(random: Prng): number {
    return this.options.antiEntropyMs * (0.5 + random.next());
  }

  private startSession(dialer: number, listener: number): void {
    const pair = linkKey(dialer, listener, this.options.nodes);
    // meshd coalesces sync requests per peer: one session per pair at a time.
    if (this.activePairs.has(pair)) return;
    this.activePairs.add(pair);
    this.counters.syncSessions++;
    const replica = this.replicas[dialer]!;
    const side = new SyncSession(replica.state, this.peerIds[listener]!, replica.peerStates);
    const session: Session = { dialer, listener, sides: [side, undefined], pair };
    this.sendFrame(session, false, side.start(), STREAM_OPEN_BYTES);
  }

  private sendFrame(session: Session, toDialer: boolean, frame: Uint8Array, extra = 0): void {
    const from = toDialer ? session.listener : session.dialer;
    const to = toDialer ? session.dialer : session.listener;
    this.counters.syncFrames++;
    const bytes = syncFrameBytes(frame.length + this.summaryExtra(frame)) + extra;
    this.send(from, to, bytes, 'sync', { k: 'frame', session, toDialer, frame }, true);
  }

  /** The node documents the replicas leave out would be listed in every summary the real engine sends. */
  private summaryExtra(frame: Uint8Array): number {
    if (this.nodeDocSummaryBytes === 0) return 0;
    const decoded = decodeSyncFrame(frame);
    return decoded.ok && decoded.value.kind === 'round' && decoded.value.summary
      ? this.nodeDocSummaryBytes
      : 0;
  }

  private onFrame(session: Session, toDialer: boolean, frame: Uint8Array): void {
    const node = toDialer ? session.dialer : session.listener;
    let side = toDialer ? session.sides[0] : session.sides[1];
    let extra = 0;
    if (side === undefined) {
      const replica = this.replicas[node]!;
      side = new SyncSession(replica.state, this.peerIds[session.dialer]!, replica.peerStates);
      session.sides[1] = side;
      extra = STREAM_OPEN_BYTES;
      const digest = helloDigest(frame);
      if (digest && Buffer.from(digest).equals(stateDigest(replica.state.summaries())))
        this.counters.syncSessionsEqual++;
    }
    if (side.done) return;
    const step = side.receive(frame, this.absoluteNow);
    if (!step.ok) {
      this.counters.syncErrors++;
      this.activePairs.delete(session.pair);
      return;
    }
    this.observe(node, 'sync');
    this.publish(node, step.publish);
    if (step.send) this.sendFrame(session, !toDialer, step.send, extra);
    if (step.done) this.activePairs.delete(session.pair);
  }

  // ---- the measured changes ----

  private onSubmit(change: number): void {
    const submitter = this.choice.int(this.options.nodes);
    const version = change + 1;
    const replica = this.replicas[submitter]!;
    const result = replica.state.submitJob(
      PROBE_JOB,
      probeJob(PROBE_JOB, version),
      'operator',
      this.absoluteNow,
    );
    const view = replica.state.job(PROBE_JOB);
    const trace: ChangeTrace = {
      atMs: this.now,
      submitter,
      version,
      specHash: view?.current.specHash ?? '',
      gossipBytes: 0,
      reachedAt: new Float64Array(this.options.nodes).fill(-1),
      reached: 0,
      via: { mesh: 0, lazy: 0, sync: 0, origin: 0 },
    };
    const first = result.publish[0];
    if (first) {
      const encoded = encodeGossip(first);
      trace.gossipBytes = encoded.ok ? encoded.value.length : 0;
    }
    this.changes.push(trace);
    this.observe(submitter, 'origin');
    this.publish(submitter, result.publish);
  }

  /** Marks every measured change this node's replica now holds (current or superseded, by spec hash). */
  private observe(node: number, via: Via): void {
    if (this.changes.length === 0) return;
    const view = this.replicas[node]!.state.job(PROBE_JOB);
    if (view === undefined) return;
    const held = new Set([view.current.specHash, ...view.history.map((v) => v.specHash)]);
    for (const trace of this.changes) {
      if (trace.reachedAt[node]! >= 0 || !held.has(trace.specHash)) continue;
      trace.reachedAt[node] = this.now;
      trace.reached++;
      trace.via[via]++;
    }
  }
}

function helloDigest(frame: Uint8Array): Uint8Array | undefined {
  const decoded = decodeSyncFrame(frame);
  return decoded.ok && decoded.value.kind === 'hello' ? decoded.value.digest : undefined;
}
