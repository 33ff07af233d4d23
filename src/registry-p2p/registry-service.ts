import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Connection } from '@libp2p/interface';
import type { Logger } from 'pino';
import { parseJson } from '../lib/json-text.js';
import type { RateLimit } from '../lib/rate-limiter.js';
import { BlobFetcher } from './blob-fetcher.js';
import { ContentStore } from './content-store.js';
import type { Digest } from './digest.js';
import { type PinnedImage, pinImage } from './image-pin.js';
import { ImagePuller } from './image-puller.js';
import { formatImageRef, parseImageRef, tagKey } from './image-ref.js';
import { LocalEndpoint } from './local-endpoint.js';
import type { ImageHolding } from './oci-protocol.js';
import { PeerClient } from './peer-client.js';
import { PeerScores } from './peer-scores.js';
import { PeerServer, type ServedHost } from './peer-server.js';
import {
  decodePrepull,
  type Gossip,
  MAX_PREPULL_BYTES,
  matchesLabels,
  PREPULL_RATE_LIMIT,
  PREPULL_TOPIC,
  type PrepullRequest,
} from './prepull.js';
import { LinkedPeersRouter, type Router } from './router.js';
import { type Credentials, UpstreamClient } from './upstream-client.js';

export interface RegistrySettings {
  /** `host:port` of the endpoint Docker pulls from, or `off`. */
  readonly listen: string;
  readonly cacheMb: number;
  readonly insecure: readonly string[];
  /** JSON file `{ "<registry host>": { "username": …, "password": … } }`; empty for none. */
  readonly authFile: string;
}

/** Timeouts and limits; tests and the benchmark shorten them. */
export interface RegistryTuning {
  stallMs: number;
  haveTimeoutMs: number;
  requestTimeoutMs: number;
  upstreamTimeoutMs: number;
  parallelBlobs: number;
  /** A slow disk, for the benchmark and tests (blob-fetcher.ts). */
  writeBytesPerSecond?: number;
  /** Free space the store leaves on the data dir's filesystem for the agent's state. */
  reserveBytes: number;
  /** Requests to the loopback endpoint that make this agent fetch something, per client address. */
  endpointFetches: RateLimit;
  /** Of those, how many may be under way at once. */
  endpointMaxFetches: number;
}

const DEFAULT_TUNING: RegistryTuning = {
  stallMs: 5_000,
  haveTimeoutMs: 1_500,
  requestTimeoutMs: 10_000,
  upstreamTimeoutMs: 15_000,
  parallelBlobs: 3,
  // State is a few MiB on a large fleet; a flash card has room for this, and must not fill up with layers.
  reserveBytes: 64 * 1024 * 1024,
  // An image is a tag, a manifest or two, a config and its layers: a few images at once fit the burst.
  endpointFetches: { perSecond: 2, burst: 200 },
  // Docker fetches three layers of a pull at once; a handful of pulls fit.
  endpointMaxFetches: 32,
};
const MAX_PREPULLS = 8;

export interface RegistryDeps {
  readonly self: string;
  readonly host: ServedHost & { getConnections(): Connection[] };
  /**
   * The agents of the mesh (peer ids). A remote meshctl is a light peer linked to its agent, holding no images:
   * the image listing asks only linked members (absent, every linked peer). Fetches still ask every linked peer:
   * a light peer refuses the protocol at once, while a member whose node record has not arrived yet (a fresh
   * link) may well hold the blob.
   */
  readonly members?: () => ReadonlySet<string>;
  /** Carries pre-pull requests; absent, a pre-pull reaches this agent only. */
  readonly gossip?: Gossip;
  /** Who holds a blob; by default every linked peer is asked. */
  readonly router?: Router;
  readonly dataDir: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly settings: RegistrySettings;
  /** Images of the allocations this node runs: their blobs are never evicted. */
  readonly inUseImages: () => readonly string[];
  /**
   * Whether a pre-pull asked for over gossip may run here. Absent: any (an open mesh). A closed mesh passes only
   * images of operator-signed jobs, so a device holding the mesh key cannot fill the fleet's disks and uplink.
   */
  readonly acceptsRemotePrepull?: (ref: string) => boolean;
  readonly log: Logger;
  readonly tuning?: Partial<RegistryTuning>;
  /** Per-signer limit on pre-pull requests over gossip; PREPULL_RATE_LIMIT by default. */
  readonly prepullRateLimit?: RateLimit;
  /** The clock of penalties, LRU and the endpoint's rate limit; Date.now by default (the simulator passes its own). */
  readonly now?: () => number;
  /** Orders equally good sources; Math.random by default (a test or the simulator seeds it). */
  readonly random?: () => number;
}

/**
 * Image sharing for one agent: the content store, the OCI protocol between agents, the pull path and the
 * loopback endpoint Docker pulls through.
 */
export class RegistryService {
  readonly store: ContentStore;
  readonly fetcher: BlobFetcher;
  readonly puller: ImagePuller;
  readonly scores: PeerScores;
  readonly server: PeerServer;
  readonly peers: PeerClient;
  readonly #endpoint: LocalEndpoint;
  readonly #deps: RegistryDeps;
  readonly #prepulls = new Set<string>();
  #address: string | undefined;

  private constructor(deps: RegistryDeps, store: ContentStore, credentials: Record<string, Credentials>) {
    this.#deps = deps;
    const tuning = { ...DEFAULT_TUNING, ...deps.tuning };
    const log = deps.log.child({ part: 'registry' });
    this.store = store;
    const now = deps.now ?? Date.now;
    this.scores = new PeerScores(now);
    // Direct links only: a relayed connection's data limit (net/relay-options.ts) would cut an image layer off
    // mid-blob, and the OCI handler refuses limited connections anyway.
    this.peers = new PeerClient(() => deps.host.getConnections(), {
      requestTimeoutMs: tuning.requestTimeoutMs,
      stallMs: tuning.stallMs,
    });
    const upstream = new UpstreamClient({
      insecure: deps.settings.insecure,
      credentials,
      timeoutMs: tuning.upstreamTimeoutMs,
    });
    const router = deps.router ?? new LinkedPeersRouter(this.peers);
    this.fetcher = new BlobFetcher({
      store,
      peers: this.peers,
      router,
      upstream,
      scores: this.scores,
      log,
      opts: {
        self: deps.self,
        ...(deps.random ? { random: deps.random } : {}),
        haveTimeoutMs: tuning.haveTimeoutMs,
        upstreamStallMs: tuning.upstreamTimeoutMs,
        maxRounds: 3,
        maxBlobBytes: 16 * 1024 ** 3,
        ...(tuning.writeBytesPerSecond ? { writeBytesPerSecond: tuning.writeBytesPerSecond } : {}),
      },
    });
    this.puller = new ImagePuller({
      store,
      fetcher: this.fetcher,
      peers: this.peers,
      router,
      upstream,
      scores: this.scores,
      log,
      opts: { peerTimeoutMs: tuning.requestTimeoutMs, parallelBlobs: tuning.parallelBlobs },
    });
    this.server = new PeerServer({
      host: deps.host,
      store,
      fetcher: this.fetcher,
      images: () => this.images(),
      log,
      opts: {
        maxServesPerPeer: 8,
        maxServes: 64,
        writeTimeoutMs: 30_000,
        requestTimeoutMs: tuning.requestTimeoutMs,
      },
    });
    this.#endpoint = new LocalEndpoint({
      store,
      fetcher: this.fetcher,
      puller: this.puller,
      log,
      fetchLimit: tuning.endpointFetches,
      maxFetches: tuning.endpointMaxFetches,
      now,
    });
  }

  static async start(deps: RegistryDeps): Promise<RegistryService> {
    let pins: () => ReadonlySet<string> = () => new Set();
    const store = await ContentStore.open({
      root: join(deps.dataDir, 'registry'),
      capBytes: deps.settings.cacheMb * 1024 * 1024,
      reserveBytes: deps.tuning?.reserveBytes ?? DEFAULT_TUNING.reserveBytes,
      pinned: () => pins(),
      log: deps.log,
      ...(deps.now ? { now: deps.now } : {}),
    });
    const service = new RegistryService(deps, store, await readCredentials(deps.settings.authFile));
    pins = () => service.pinned();
    await service.puller.load();
    // Only now are pins known; a disk filled before a restart must not keep state from being written.
    await store.restoreReserve();
    await service.server.start();
    if (deps.settings.listen !== 'off') {
      const colon = deps.settings.listen.lastIndexOf(':');
      const host = deps.settings.listen.slice(0, colon);
      const port = Number(deps.settings.listen.slice(colon + 1));
      try {
        service.#address = await service.#endpoint.listen(host, port);
        // With port 0 this line is the only place the bound port shows.
        deps.log.info({ registry: service.#address }, 'local registry endpoint listening');
      } catch (err) {
        // Another agent on this host holds the port: peers can still fetch from this one; Docker pulls direct.
        deps.log.warn(
          { err: (err as Error).message, listen: deps.settings.listen },
          'local registry endpoint not started',
        );
      }
    }
    deps.gossip?.subscribe<PrepullRequest>(PREPULL_TOPIC, {
      maxBytes: MAX_PREPULL_BYTES,
      rateLimit: deps.prepullRateLimit ?? PREPULL_RATE_LIMIT,
      decode: decodePrepull,
      deliver: (from, request) => {
        if (deps.acceptsRemotePrepull && !deps.acceptsRemotePrepull(request.ref)) {
          deps.log.debug({ from, ref: request.ref }, 'ignored a pre-pull of an image no signed job uses');
          return;
        }
        service.#onPrepull(request);
      },
    });
    return service;
  }

  /** `host:port` Docker pulls through, when the endpoint is up. */
  get endpoint(): string | undefined {
    return this.#address;
  }

  pinned(): Set<Digest> {
    const out = new Set<Digest>();
    for (const image of this.#deps.inUseImages()) {
      const ref = parseImageRef(image);
      if (!ref) continue;
      const top =
        'digest' in ref.reference
          ? ref.reference.digest
          : this.store.tag(tagKey(ref.registry, ref.repository, ref.reference.tag))?.digest;
      if (top) for (const digest of this.puller.closure(top)) out.add(digest);
    }
    return out;
  }

  images(): ImageHolding[] {
    return this.store.tags().map(([ref, entry]) => ({
      ref,
      digest: entry.digest,
      complete: this.puller.complete(entry.digest),
    }));
  }

  /** Linked peers that are mesh members: a remote meshctl holds nothing and is no row of the listing. */
  #listedPeers(): string[] {
    const members = this.#deps.members?.();
    const linked = this.peers.connectedPeers();
    return members ? linked.filter((peer) => members.has(peer)) : linked;
  }

  /** What each linked peer holds, beside this agent's own. */
  async meshImages(timeoutMs = 3_000): Promise<{ peer: string; images: ImageHolding[] | null }[]> {
    const others = await Promise.all(
      this.#listedPeers().map(async (peer) => ({
        peer,
        images: await this.peers.images(peer, AbortSignal.timeout(timeoutMs)).catch(() => null),
      })),
    );
    return [{ peer: this.#deps.self, images: this.images() }, ...others];
  }

  /** `image`'s tag resolved to its manifest digest now, for `meshctl job run` to sign (image-pin.ts). */
  resolveImage(image: string): Promise<PinnedImage> {
    return pinImage(this.puller, image);
  }

  /** Asks every agent whose labels match (this one included) to pull `ref` now. */
  async prepull(ref: string, labels: Record<string, string>): Promise<void> {
    if (!parseImageRef(ref)) throw new Error(`"${ref}" is not an image reference`);
    const request = { ref, labels };
    await this.#deps.gossip?.publish(PREPULL_TOPIC, new TextEncoder().encode(JSON.stringify(request)));
    this.#onPrepull(request);
  }

  #onPrepull(request: PrepullRequest): void {
    if (!matchesLabels(request.labels, this.#deps.labels)) return;
    const ref = parseImageRef(request.ref);
    if (!ref) return;
    const key = formatImageRef(ref);
    if (this.#prepulls.has(key) || this.#prepulls.size >= MAX_PREPULLS) return;
    this.#prepulls.add(key);
    this.puller
      .pull(ref)
      .then((digest) => this.#deps.log.info({ ref: key, digest }, 'pre-pulled image'))
      .catch((err: unknown) =>
        this.#deps.log.warn({ ref: key, err: (err as Error).message }, 'pre-pull failed'),
      )
      .finally(() => this.#prepulls.delete(key));
  }

  async stop(): Promise<void> {
    await this.#endpoint.close();
    await this.server.stop();
  }
}

async function readCredentials(file: string): Promise<Record<string, Credentials>> {
  if (!file) return {};
  const raw = parseJson(await readFile(file, 'utf8')) as Record<string, Partial<Credentials>>;
  const out: Record<string, Credentials> = {};
  for (const [host, c] of Object.entries(raw)) {
    if (typeof c?.username !== 'string' || typeof c.password !== 'string')
      throw new Error(`${file}: "${host}" needs a username and a password`);
    out[host] = { username: c.username, password: c.password };
  }
  return out;
}
