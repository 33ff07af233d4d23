import type { Logger } from 'pino';
import type { BlobFetcher } from './blob-fetcher.js';
import { type ContentStore, DigestMismatch, MAX_MANIFEST_BYTES, StoreFull } from './content-store.js';
import { type Digest, parseDigest, sha256Digest } from './digest.js';
import { type ImageRef, isTag, tagKey } from './image-ref.js';
import { declaredMediaType, type ParsedManifest, parseManifest, pickPlatform } from './manifest.js';
import type { PeerClient } from './peer-client.js';
import type { PeerScores } from './peer-scores.js';
import { LinkedPeersRouter, type Router } from './router.js';
import { throughNeighbours } from './through-neighbours.js';
import { MANIFEST_TYPES, type UpstreamClient, UpstreamError } from './upstream-client.js';

export interface PullerOptions {
  /** Wait for peers asked about a tag or a manifest. */
  readonly peerTimeoutMs: number;
  /** Blobs of one image fetched at once. */
  readonly parallelBlobs: number;
}

export interface Manifest {
  readonly digest: Digest;
  readonly bytes: Uint8Array;
  readonly mediaType: string;
}

/**
 * Who said which manifest a tag names: its registry now, this agent's last answer from it, or the most peers.
 * Only the first is the registry's word today; the others are what the operator should hear about.
 */
export type TagSource = 'upstream' | 'stored' | { readonly peers: number; readonly asked: number };

const MAX_PARSED = 4096;

/**
 * Images on top of blobs: tags resolve upstream when it answers, else from this store's last answer, else from
 * the peers (the answer most of them give); manifests come from the store, peers or upstream, always checked
 * against their digest; a pull fetches the platform's manifest, config and layers.
 */
export class ImagePuller {
  readonly #store: ContentStore;
  readonly #fetcher: BlobFetcher;
  readonly #peers: PeerClient;
  readonly #router: Router;
  readonly #upstream: UpstreamClient;
  readonly #scores: PeerScores;
  readonly #opts: PullerOptions;
  readonly #log: Logger;
  /** Parsed manifests by digest: what pins and image listings walk without touching the disk. */
  readonly #parsed = new Map<Digest, ParsedManifest>();

  constructor(deps: {
    store: ContentStore;
    fetcher: BlobFetcher;
    peers: PeerClient;
    /** Who holds a manifest; by default every linked peer is asked. */
    router?: Router;
    upstream: UpstreamClient;
    scores: PeerScores;
    opts: PullerOptions;
    log: Logger;
  }) {
    this.#store = deps.store;
    this.#fetcher = deps.fetcher;
    this.#peers = deps.peers;
    this.#router = deps.router ?? new LinkedPeersRouter(deps.peers);
    this.#upstream = deps.upstream;
    this.#scores = deps.scores;
    this.#opts = deps.opts;
    this.#log = deps.log;
  }

  /** Parses the manifests already in the store, so pins hold from the first moment after a restart. */
  async load(): Promise<void> {
    for (const { digest } of this.#store.list()) {
      if (this.#store.mediaType(digest)) this.#remember(digest, await this.#store.readBytes(digest));
    }
  }

  async resolveTag(
    registry: string,
    repository: string,
    tag: string,
  ): Promise<Manifest & { readonly source: TagSource; readonly upstreamError?: string }> {
    // Peers are asked for the tag too: what upstream would refuse must not travel the mesh either.
    if (!isTag(tag)) throw new Error(`"${tag}" is not a tag (letters, digits, _ . -, at most 128)`);
    const key = tagKey(registry, repository, tag);
    let upstreamFailure: unknown;
    try {
      const { bytes, mediaType } = await this.#upstream.manifest(registry, repository, tag);
      const digest = sha256Digest(bytes);
      await this.#keep(digest, bytes, mediaType);
      await this.#store.setTag(key, digest, mediaType);
      return { digest, bytes, mediaType, source: 'upstream' };
    } catch (err) {
      // A full disk is not an unreachable upstream: peers cannot help either.
      if (err instanceof StoreFull) throw err;
      upstreamFailure = err;
      this.#log.info(
        { ref: key, err: (err as Error).message },
        'upstream cannot resolve the tag; asking the mesh',
      );
    }
    const stored = this.#store.tag(key);
    const known = stored
      ? { ...stored, source: 'stored' as const }
      : await this.#tagFromPeers(registry, repository, tag);
    if (!known) throw unresolved(key, registry, upstreamFailure);
    const manifest = await this.manifest(registry, repository, known.digest);
    await this.#store.setTag(key, manifest.digest, manifest.mediaType);
    return { ...manifest, source: known.source, upstreamError: (upstreamFailure as Error).message };
  }

  async #tagFromPeers(
    registry: string,
    repository: string,
    tag: string,
  ): Promise<{ digest: Digest; mediaType: string; source: TagSource } | undefined> {
    const answers = await Promise.all(
      this.#usablePeers().map((peer) =>
        this.#peers
          .tag(peer, registry, repository, tag, AbortSignal.timeout(this.#opts.peerTimeoutMs))
          .catch(() => undefined),
      ),
    );
    const votes = new Map<Digest, { count: number; mediaType: string }>();
    for (const answer of answers) {
      const digest = parseDigest(answer?.digest);
      if (!digest || !answer) continue;
      const vote = votes.get(digest) ?? { count: 0, mediaType: answer.mediaType };
      vote.count++;
      votes.set(digest, vote);
    }
    const best = [...votes].sort((a, b) => b[1].count - a[1].count)[0];
    const source = { peers: best?.[1].count ?? 0, asked: answers.length };
    return best ? { digest: best[0], mediaType: best[1].mediaType, source } : undefined;
  }

  async manifest(registry: string, repository: string, digest: Digest): Promise<Manifest> {
    if (this.#store.has(digest)) {
      const bytes = await this.#store.readBytes(digest);
      if (!this.#parsed.has(digest)) this.#remember(digest, bytes);
      return {
        digest,
        bytes,
        mediaType: this.#store.mediaType(digest) ?? declaredMediaType(bytes) ?? MANIFEST_TYPES[1]!,
      };
    }
    const fromPeer = await this.#manifestFromPeers(registry, repository, digest);
    if (fromPeer) return fromPeer;
    const { bytes, mediaType } = await this.#upstream.manifest(registry, repository, digest);
    const actual = sha256Digest(bytes);
    if (actual !== digest) throw new DigestMismatch(digest, actual);
    await this.#keep(digest, bytes, mediaType);
    return { digest, bytes, mediaType };
  }

  async #manifestFromPeers(
    registry: string,
    repository: string,
    digest: Digest,
  ): Promise<Manifest | undefined> {
    const answers = await this.#router.lookup(digest, {
      signal: AbortSignal.timeout(this.#opts.peerTimeoutMs),
      skip: (p) => !this.#scores.usable(p),
    });
    const holders = answers.filter((h) => h.holding === 'complete').map((h) => h.peer);
    for (const peer of holders) {
      const manifest = await this.#manifestFrom(peer, digest, undefined);
      if (manifest) return manifest;
    }
    // No linked peer holds it: one linked to a holder fetches it through (as blob-fetcher.ts does for blobs).
    const through = await throughNeighbours(
      this.#peers,
      digest,
      (p) => holders.includes(p) || !this.#scores.usable(p),
    );
    for (const peer of through) {
      const manifest = await this.#manifestFrom(peer, digest, { registry, repository });
      if (manifest) return manifest;
    }
    return undefined;
  }

  /** The manifest from one peer, verified; undefined (and the peer penalised if it lied) when it failed. */
  async #manifestFrom(
    peer: string,
    digest: Digest,
    through: { registry: string; repository: string } | undefined,
  ): Promise<Manifest | undefined> {
    const signal = AbortSignal.timeout(this.#opts.peerTimeoutMs);
    try {
      const blob = await this.#peers.blob(peer, digest, 0, through, signal);
      const parts: Uint8Array[] = [];
      let length = 0;
      for await (const chunk of blob.chunks) {
        length += chunk.length;
        if (length > MAX_MANIFEST_BYTES) throw new Error('manifest too large');
        parts.push(chunk);
      }
      const bytes = Buffer.concat(parts);
      if (sha256Digest(bytes) !== digest) {
        // A neighbour fetching through passes on bytes it has not verified yet: it failed, it did not lie.
        this.#scores.penalise(peer, through ? 'failed' : 'corrupt');
        this.#log.warn({ peer, digest }, 'peer served a manifest that fails its digest');
        return undefined;
      }
      const mediaType = blob.mediaType ?? declaredMediaType(bytes) ?? MANIFEST_TYPES[1]!;
      await this.#keep(digest, bytes, mediaType);
      return { digest, bytes, mediaType };
    } catch (err) {
      this.#log.debug({ peer, digest, err: (err as Error).message }, 'manifest from peer failed');
      return undefined;
    }
  }

  #usablePeers(): string[] {
    return this.#peers.connectedPeers().filter((p) => this.#scores.usable(p));
  }

  async #keep(digest: Digest, bytes: Uint8Array, mediaType: string): Promise<void> {
    if (bytes.length > MAX_MANIFEST_BYTES) throw new Error(`manifest ${digest} is too large`);
    const parsed = parseManifest(bytes);
    if (!parsed) throw new Error(`manifest ${digest} is not an OCI or Docker v2 manifest`);
    await this.#store.putBytes(digest, bytes, mediaType);
    this.#remember(digest, parsed);
    this.#router.advertise([digest]).catch((err: unknown) => {
      this.#log.debug({ digest, err: (err as Error).message }, 'advertising a manifest failed');
    });
  }

  #remember(digest: Digest, content: Uint8Array | ParsedManifest): void {
    const parsed = content instanceof Uint8Array ? parseManifest(content) : content;
    if (!parsed) return;
    this.#parsed.set(digest, parsed);
    while (this.#parsed.size > MAX_PARSED) this.#parsed.delete(this.#parsed.keys().next().value as Digest);
  }

  /** Manifests come back through resolveTag or manifest(), which parsed them already. */
  #parsedOf(manifest: Manifest): ParsedManifest | undefined {
    return this.#parsed.get(manifest.digest) ?? parseManifest(manifest.bytes);
  }

  /** The size a manifest seen here declared for `digest`, so a blob fetched alone is still bounded. */
  sizeOf(digest: Digest): number | undefined {
    for (const parsed of this.#parsed.values()) {
      const list = parsed.kind === 'index' ? parsed.manifests : parsed.blobs;
      const found = list.find((d) => d.digest === digest);
      if (found) return found.size;
    }
    return undefined;
  }

  /** Every digest the image under `digest` needs that this agent knows of (for pins and listings). */
  closure(digest: Digest): Digest[] {
    const out: Digest[] = [digest];
    const parsed = this.#parsed.get(digest);
    if (parsed?.kind === 'image') out.push(...parsed.blobs.map((b) => b.digest));
    if (parsed?.kind === 'index')
      for (const m of parsed.manifests) if (this.#store.has(m.digest)) out.push(...this.closure(m.digest));
    return out;
  }

  /** Whether the store holds everything the image under `digest` needs on this platform. */
  complete(digest: Digest): boolean {
    const parsed = this.#parsed.get(digest);
    if (!parsed || !this.#store.has(digest)) return false;
    if (parsed.kind === 'index') {
      const mine = pickPlatform(parsed.manifests);
      return mine !== undefined && this.complete(mine.digest);
    }
    return parsed.blobs.every((b) => this.#store.has(b.digest));
  }

  /** Manifest, config and layers of `ref` for this platform into the store; returns the top manifest's digest. */
  async pull(ref: ImageRef): Promise<Digest> {
    const { registry, repository } = ref;
    const top =
      'tag' in ref.reference
        ? await this.resolveTag(registry, repository, ref.reference.tag)
        : await this.manifest(registry, repository, ref.reference.digest);
    let parsed = this.#parsedOf(top);
    if (parsed?.kind === 'index') {
      const mine = pickPlatform(parsed.manifests);
      if (!mine) throw new Error(`${repository} has no image for linux/${process.arch}`);
      parsed = this.#parsedOf(await this.manifest(registry, repository, mine.digest));
    }
    if (parsed?.kind !== 'image') throw new Error(`${repository}: not an image manifest`);
    const queue = [...parsed.blobs];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        await this.#fetcher.fetch(next.digest, { registry, repository, size: next.size, delegate: true });
      }
    };
    await Promise.all(Array.from({ length: this.#opts.parallelBlobs }, worker));
    return top.digest;
  }
}

/**
 * A tag neither upstream nor any peer could resolve, with upstream's true cause: it has no such tag (404, the
 * registry's "manifest unknown"), it refused access (401, 403), or it could not be reached.
 */
function unresolved(key: string, registry: string, upstream: unknown): Error {
  const status = upstream instanceof UpstreamError ? upstream.status : undefined;
  if (status === 404) return new UpstreamError(`manifest unknown (${key})`, 404);
  if (status === 401 || status === 403)
    return new UpstreamError(
      `${registry} refused access to ${key} (${status}): check the credentials`,
      status,
    );
  const why = upstream instanceof Error ? upstream.message : 'unreachable';
  return new UpstreamError(`cannot resolve ${key}: ${why}, and no peer knows the tag`, status);
}
