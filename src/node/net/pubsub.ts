/**
 * The one place pubsub is constructed. @chainsafe/libp2p-gossipsub 14 is built for libp2p 2 and under libp2p 3
 * never forms a mesh (publish throws NoPeersSubscribedToTopic); @libp2p/gossipsub is the libp2p team's copy of
 * the same implementation with the same options. Swapping back is this import.
 */
import { type GossipSub, gossipsub } from '@libp2p/gossipsub';
import { createTopicScoreParams } from '@libp2p/gossipsub/score';
import { STATE_TOPIC } from '../../crdt/gossip-codec.js';

export type { GossipSub, Message as PubsubMessage } from '@libp2p/gossipsub';
export { TopicValidatorResult } from '@libp2p/gossipsub';

/** Gossip payloads are small by design; anything larger is hostile or a bug. */
export const MAX_GOSSIP_MESSAGE_BYTES = 512 * 1024;

function bytesKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Peer scoring on our topics, tuned for sparse traffic: a message that fails its topic validator costs its
 * forwarder 10 × (invalid deliveries)², so a peer that pushes three bad messages in a short while falls below the
 * graylist threshold (-80) and everything it sends is ignored until the count decays (×0.99 a second: minutes).
 * Gossipsub's mesh-delivery penalties stay off: they expect a steady message rate per topic, and a quiet mesh
 * here (state changes rarely; liveness travels on direct links) would push honest peers out of the mesh.
 */
const TOPIC_SCORE = createTopicScoreParams({
  topicWeight: 1,
  timeInMeshWeight: 0.01,
  timeInMeshQuantum: 1_000,
  timeInMeshCap: 300,
  firstMessageDeliveriesWeight: 0.5,
  firstMessageDeliveriesDecay: 0.9,
  firstMessageDeliveriesCap: 10,
  meshMessageDeliveriesWeight: 0,
  meshFailurePenaltyWeight: 0,
  invalidMessageDeliveriesWeight: -10,
  invalidMessageDeliveriesDecay: 0.99,
});
export const GRAYLIST_THRESHOLD = -80;

export function createPubsub() {
  return gossipsub({
    // Signed messages: the signer is the authenticated sender, which ownership relies on.
    globalSignaturePolicy: 'StrictSign',
    emitSelf: false,
    // Publishing with nobody subscribed yet (a lone or partitioned agent) is normal here, not an error.
    allowPublishToZeroTopicPeers: true,
    fallbackToFloodsub: false,
    // The mesh delivers; flooding every publish to every connected peer multiplies duplicates on small devices.
    floodPublish: false,
    // Gossipsub verifies the signature of every copy it receives before it looks the message up in its seen
    // cache: with a mesh of degree 6 that is six Ed25519 verifications per message. Signer plus sequence number
    // identifies a signed message, so duplicates are dropped before any cryptography.
    fastMsgIdFn: (rpc) =>
      rpc.from && rpc.seqno
        ? `${bytesKey(rpc.from)}:${bytesKey(rpc.seqno)}`
        : `${rpc.topic}:${bytesKey(rpc.data ?? new Uint8Array())}`,
    maxInboundDataLength: MAX_GOSSIP_MESSAGE_BYTES + 4096,
    // A message seen in the last two minutes is dropped as a duplicate: longer than any flap we repair by gossip.
    seenTTL: 120_000,
    // A bounded outbound buffer per peer: a slow peer must not grow our memory without limit.
    maxOutboundBufferSize: 4 * 1024 * 1024,
    scoreParams: {
      // Gossipsub's Sybil defence penalises more than 10 peers behind one IP, quadratically: 19 peers on one
      // address graylist them all and the mesh silently stops. Edge sites put dozens of devices behind one NAT
      // address, and membership here is closed by the mesh key, so the defence costs more than it protects.
      IPColocationFactorWeight: 0,
      topics: { [STATE_TOPIC]: TOPIC_SCORE },
    },
    scoreThresholds: {
      gossipThreshold: -10,
      publishThreshold: -50,
      graylistThreshold: GRAYLIST_THRESHOLD,
    },
  });
}

/**
 * The peers in this agent's mesh for `topic`. The implementation has it; the GossipSub interface does not
 * export it, so this is the one place that reaches past the interface.
 */
export function meshPeers(pubsub: GossipSub, topic: string): string[] {
  return (pubsub as unknown as { getMeshPeers(topic: string): string[] }).getMeshPeers(topic);
}
