import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConnectionGater, PeerId } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import { NoSource } from '../../src/registry-p2p/blob-fetcher.js';
import { type Digest, sha256Digest } from '../../src/registry-p2p/digest.js';
import { OCI_PROTOCOL } from '../../src/registry-p2p/oci-protocol.js';
import { PeerRefused } from '../../src/registry-p2p/peer-client.js';
import { rendezvousOwner } from '../../src/registry-p2p/rendezvous.js';
import { joinAddress, startAgent, tempDir, testConfig, waitFor } from '../support/agents.js';
import { FAST_REGISTRY } from './mesh.js';

/** Nothing listens on port 1: the upstream registry is down, and refuses at once. */
const UPSTREAM = { registry: '127.0.0.1:1', repository: 'mycel/through' } as const;
const LAYER_BYTES = 4 * 1024 * 1024;

interface Chain {
  agents: Agent[];
  stop: () => Promise<void>;
}
let chain: Chain | undefined;

afterEach(async () => {
  await chain?.stop();
  chain = undefined;
});

/**
 * `n` agents in a line, each linked only to the one before and after it (two NAT'd sites and a reachable member
 * between them, for n = 3). Each agent's gater refuses every earlier agent that is not its neighbour, so no
 * direct or relayed connection forms, whatever peer exchange tells them.
 */
async function startChain(n: number): Promise<Chain> {
  const agents: Agent[] = [];
  const dirs: { path: string }[] = [];
  const stop = async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(dirs.map((d) => rm(d.path, { recursive: true, force: true, maxRetries: 5 })));
  };
  try {
    for (let i = 0; i < n; i++) {
      const apart = new Set(agents.slice(0, Math.max(0, i - 1)).map((a) => a.peerId));
      const deny = (peer: PeerId) => apart.has(peer.toString());
      const gater: ConnectionGater = {
        denyDialPeer: deny,
        denyInboundEncryptedConnection: deny,
        denyOutboundEncryptedConnection: deny,
        denyOutboundRelayedConnection: (_relay, remote) => deny(remote),
        denyInboundRelayedConnection: (_relay, remote) => deny(remote),
      };
      const dir = await tempDir('mycel-through-');
      dirs.push(dir);
      const previous = agents[i - 1];
      agents.push(
        await startAgent(
          testConfig({
            dataDir: dir.path,
            name: `through-${i}`,
            registryListen: '127.0.0.1:0',
            heartbeatIntervalMs: 1_000,
            suspectAfterMs: 5_000,
            lostAfterMs: 20_000,
            join: previous ? [joinAddress(previous)] : [],
          }),
          { registry: FAST_REGISTRY, connectionGater: gater },
        ),
      );
      if (previous) await agents[i]!.host.dial(multiaddr(joinAddress(previous))).catch(() => undefined);
    }
    await waitFor(
      'each agent linked to its neighbours',
      () =>
        agents.every((a, i) => a.registry.peers.connectedPeers().length === (i === 0 || i === n - 1 ? 1 : 2)),
      60_000,
      () => agents.map((a) => a.registry.peers.connectedPeers().length).join(','),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { agents, stop };
}

/**
 * Random bytes whose digest `asker` owns among itself and its linked peers: it would never ask a neighbour to
 * fetch them as their owner, so only a fetch-through can bring them.
 */
function ownedBy(asker: Agent, size: number): Buffer {
  const linked = [asker.peerId, ...asker.registry.peers.connectedPeers()];
  for (;;) {
    const bytes = randomBytes(size);
    if (rendezvousOwner(sha256Digest(bytes), linked) === asker.peerId) return bytes;
  }
}

async function hold(agent: Agent, bytes: Uint8Array): Promise<Digest> {
  const digest = sha256Digest(bytes);
  await agent.registry.store.putBytes(digest, bytes);
  return digest;
}

function blobPath(agent: Agent, digest: Digest): string {
  return join(agent.config.dataDir, 'registry', 'blobs', 'sha256', digest.slice('sha256:'.length));
}

describe('a blob held only by a peer this agent has no link to', () => {
  it('comes through a neighbour linked to both, verified, and the neighbour keeps a copy', async () => {
    chain = await startChain(3);
    const [asker, middle, holder] = chain.agents as [Agent, Agent, Agent];
    const bytes = ownedBy(asker, LAYER_BYTES);
    const digest = await hold(holder, bytes);

    const started = Date.now();
    await asker.registry.fetcher.fetch(digest, { ...UPSTREAM, size: bytes.length, delegate: true });
    const ms = Date.now() - started;

    expect(Buffer.compare(await asker.registry.store.readBytes(digest), bytes)).toBe(0);
    expect(Buffer.compare(await middle.registry.store.readBytes(digest), bytes)).toBe(0);
    expect(asker.registry.fetcher.bytesFrom.peers).toBe(LAYER_BYTES);
    expect(middle.registry.fetcher.bytesFrom.peers).toBe(LAYER_BYTES);
    // The two ends never linked: every byte went through the middle.
    expect(asker.registry.peers.connectedPeers()).toEqual([middle.peerId]);
    expect(asker.host.getPeers().map(String)).not.toContain(holder.peerId);
    console.log(`fetch-through of ${LAYER_BYTES} bytes over loopback: ${ms} ms`);

    // The manifest naming the layer comes the same way, verified, and the middle keeps it too.
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: bytes.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: bytes.length }],
      }),
    );
    const manifestDigest = await hold(holder, manifest);
    const got = await asker.registry.puller.manifest(UPSTREAM.registry, UPSTREAM.repository, manifestDigest);
    expect(Buffer.compare(Buffer.from(got.bytes), manifest)).toBe(0);
    expect(asker.registry.store.has(manifestDigest)).toBe(true);
    expect(middle.registry.store.has(manifestDigest)).toBe(true);
  }, 90_000);

  it('is refused at the neighbour when the holder sends bytes that do not match the digest', async () => {
    chain = await startChain(3);
    const [asker, middle, holder] = chain.agents as [Agent, Agent, Agent];
    const bytes = ownedBy(asker, LAYER_BYTES);
    const digest = await hold(holder, bytes);
    const tampered = await readFile(blobPath(holder, digest));
    tampered[1000] = (tampered[1000] ?? 0) ^ 0xff;
    await writeFile(blobPath(holder, digest), tampered);

    await expect(
      asker.registry.fetcher.fetch(digest, { ...UPSTREAM, size: bytes.length, delegate: true }),
    ).rejects.toBeInstanceOf(NoSource);
    // The middle checked the digest itself, kept nothing and penalised the holder; the asker kept nothing either.
    await waitFor(
      'the middle to give up on the blob',
      () => middle.registry.store.partial(digest) === undefined,
    );
    expect(middle.registry.store.has(digest)).toBe(false);
    expect(middle.registry.scores.get(holder.peerId)?.offences.corrupt).toBe(1);
    expect(asker.registry.store.has(digest)).toBe(false);
    // The middle only relayed bytes it had not verified yet: a failure, not a lie.
    expect(asker.registry.scores.get(middle.peerId)?.offences.corrupt ?? 0).toBe(0);
  }, 90_000);

  it('goes one hop only: a neighbour never asks its own neighbours to fetch through for it', async () => {
    chain = await startChain(4);
    const [asker, first, second, holder] = chain.agents as [Agent, Agent, Agent, Agent];
    const bytes = ownedBy(asker, 256 * 1024);
    const digest = await hold(holder, bytes);

    await expect(
      asker.registry.fetcher.fetch(digest, { ...UPSTREAM, size: bytes.length, delegate: true }),
    ).rejects.toBeInstanceOf(NoSource);
    // Two hops away, the holder is out of reach: neither the first nor the second agent fetched it.
    for (const agent of [asker, first, second]) {
      expect(agent.registry.store.has(digest)).toBe(false);
      expect(agent.registry.store.partial(digest)).toBeUndefined();
    }
    expect(second.registry.fetcher.bytesFrom.peers).toBe(0);

    // The agent next to the holder does get it through `second`, which is linked to the holder.
    await first.registry.fetcher.fetch(digest, { ...UPSTREAM, size: bytes.length, delegate: true });
    expect(Buffer.compare(await first.registry.store.readBytes(digest), bytes)).toBe(0);
  }, 90_000);

  it('answers at most 16 "reach" questions at once, and more as busy', async () => {
    chain = await startChain(3);
    const [asker, middle, silent] = chain.agents as [Agent, Agent, Agent];
    // A peer that never answers "have": each of the middle's lookups waits out its deadline.
    await silent.host.unhandle(OCI_PROTOCOL);
    await silent.host.handle(OCI_PROTOCOL, () => {}, { maxInboundStreams: 128 });
    const digest = sha256Digest(randomBytes(64));
    const answers = await Promise.allSettled(
      Array.from({ length: 20 }, () => asker.registry.peers.reach(middle.peerId, digest)),
    );
    const busy = answers.filter((a) => a.status === 'rejected' && a.reason instanceof PeerRefused);
    expect(busy).toHaveLength(4);
    expect(busy.every((a) => a.status === 'rejected' && String(a.reason.message) === 'busy')).toBe(true);
  }, 90_000);
});
