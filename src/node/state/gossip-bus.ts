import type { PeerId } from '@libp2p/interface';
import type { RateLimit } from '../../lib/rate-limiter.js';
import type { InboundLimits } from '../net/inbound-limits.js';
import {
  type GossipSub,
  MAX_GOSSIP_MESSAGE_BYTES,
  meshPeers,
  type PubsubMessage,
  TopicValidatorResult,
} from '../net/pubsub.js';
import type { MeshMetrics } from '../setup/metrics.js';

export interface TopicHandler<T> {
  maxBytes: number;
  /** Per signer: a flood from one peer is dropped before it is decoded (and costs the others nothing). */
  rateLimit: RateLimit;
  /** Decode and check a message; an error string rejects it (and penalises the peer that forwarded it). */
  decode(data: Uint8Array): { ok: true; value: T } | { ok: false; error: string };
  deliver(from: string, value: T): void;
}

/**
 * Every gossip topic goes through here: per-signer rate limits, size limits and decoding in the topic validator
 * (before gossipsub forwards anything; a rejection lowers the forwarder's peer score, see pubsub.ts), metrics per
 * topic, and the fault hook tests and the simulator use to lose messages.
 */
export class GossipBus {
  readonly #pubsub: GossipSub;
  readonly #metrics: MeshMetrics;
  readonly #limits: InboundLimits;
  /** Gossipsub hands the same message object to the validator and to the listener: decode once. */
  readonly #decoded = new WeakMap<PubsubMessage, unknown>();
  readonly #handlers = new Map<string, TopicHandler<unknown>>();
  /** Returns true to drop an inbound message as if the network lost it. */
  dropInbound: ((topic: string) => boolean) | undefined;

  constructor(pubsub: GossipSub, metrics: MeshMetrics, limits: InboundLimits) {
    this.#pubsub = pubsub;
    this.#metrics = metrics;
    this.#limits = limits;
    pubsub.addEventListener('message', (evt) => this.#onMessage(evt.detail));
  }

  subscribe<T>(topic: string, handler: TopicHandler<T>): void {
    if (handler.maxBytes > MAX_GOSSIP_MESSAGE_BYTES)
      throw new Error(`${topic}: limit above the pubsub limit`);
    this.#handlers.set(topic, handler as TopicHandler<unknown>);
    this.#pubsub.topicValidators.set(topic, (peer: PeerId, msg: PubsubMessage) => {
      if (this.dropInbound?.(topic)) return TopicValidatorResult.Ignore;
      // Excess is ignored, not rejected: the forwarder may be an honest peer relaying someone else's flood.
      if (
        msg.type === 'signed' &&
        !this.#limits.admit(`gossip ${topic}`, msg.from.toString(), handler.rateLimit)
      )
        return TopicValidatorResult.Ignore;
      if (msg.data.length > handler.maxBytes) return this.#reject(topic, peer, `${msg.data.length} bytes`);
      const decoded = handler.decode(msg.data);
      if (!decoded.ok) return this.#reject(topic, peer, decoded.error);
      this.#decoded.set(msg, decoded.value);
      return TopicValidatorResult.Accept;
    });
    this.#pubsub.subscribe(topic);
  }

  /**
   * Calls `listener` whenever this agent joins `topic`'s mesh from outside it (no mesh peer): at start, and
   * after a partition or an address change emptied the mesh. What it publishes before that reaches nobody.
   */
  onMeshJoined(topic: string, listener: () => void): void {
    let inMesh = false;
    this.#pubsub.addEventListener('gossipsub:graft', (evt) => {
      if (evt.detail.topic !== topic || inMesh) return;
      inMesh = true;
      // After gossipsub's own graft bookkeeping: a publish from inside its event would race it.
      setTimeout(listener, 0);
    });
    // A peer that disconnects leaves the mesh without a prune: the heartbeat is where an empty mesh shows.
    this.#pubsub.addEventListener('gossipsub:heartbeat', () => {
      if (inMesh && meshPeers(this.#pubsub, topic).length === 0) inMesh = false;
    });
  }

  async publish(topic: string, data: Uint8Array): Promise<void> {
    this.#metrics.gossipMessages.inc({ topic, direction: 'out' });
    this.#metrics.gossipBytes.inc({ topic, direction: 'out' }, data.length);
    await this.#pubsub.publish(topic, data);
  }

  #reject(topic: string, peer: PeerId, reason: string): TopicValidatorResult {
    this.#metrics.gossipMessages.inc({ topic, direction: 'rejected' });
    this.#limits.rejected(`gossip ${topic}`, peer.toString(), reason);
    return TopicValidatorResult.Reject;
  }

  #onMessage(msg: PubsubMessage): void {
    const handler = this.#handlers.get(msg.topic);
    // Unsigned messages carry no sender; our topics are StrictSign, so gossipsub already refused them.
    if (!handler || msg.type !== 'signed') return;
    this.#metrics.gossipMessages.inc({ topic: msg.topic, direction: 'in' });
    this.#metrics.gossipBytes.inc({ topic: msg.topic, direction: 'in' }, msg.data.length);
    if (!this.#decoded.has(msg)) return;
    const value = this.#decoded.get(msg);
    this.#decoded.delete(msg);
    try {
      handler.deliver(msg.from.toString(), value);
    } catch (err) {
      this.#limits.rejected(`gossip ${msg.topic} handler`, msg.from.toString(), String(err));
    }
  }
}
