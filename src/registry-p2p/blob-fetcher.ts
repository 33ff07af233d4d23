import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { shuffle } from '../lib/shuffle.js';
import type { BlobWriter } from './blob-writer.js';
import { type ContentStore, DigestMismatch, StoreFull } from './content-store.js';
import type { Digest } from './digest.js';
import { type PeerClient, StallError } from './peer-client.js';
import type { Offence, PeerScores } from './peer-scores.js';
import { rendezvousOwner, rendezvousWeight } from './rendezvous.js';
import { LinkedPeersRouter, type Router } from './router.js';
import { throughNeighbours } from './through-neighbours.js';
import type { UpstreamClient } from './upstream-client.js';

export interface BlobContext {
  readonly registry: string;
  readonly repository: string;
  /** From the manifest's descriptor; a source sending more is cut off. */
  readonly size?: number;
  /**
   * False when a peer asked us to fetch for it (as the digest's owner, or through us to a holder it cannot reach):
   * such a fetch never asks another peer to fetch for it, so a request goes one hop and cannot loop.
   */
  readonly delegate: boolean;
}

export interface FetcherOptions {
  readonly self: string;
  /** Wait for holders to answer "have"; silence means no. */
  readonly haveTimeoutMs: number;
  /** Longest silence from upstream before its stream counts as stalled. */
  readonly upstreamStallMs: number;
  /** Attempts over all sources after a digest mismatch. */
  readonly maxRounds: number;
  /** Blobs of unknown size are cut off past this. */
  readonly maxBlobBytes: number;
  /**
   * Paces every write to the store at this rate: the benchmark's and tests' stand-in for a slow SD card, to prove
   * that a receiver slower than its source slows the transfer and does not fail it. Unset: full speed.
   */
  readonly writeBytesPerSecond?: number;
  /** Orders equally good holders, so a site's agents spread over them; Math.random unless a test seeds it. */
  readonly random?: () => number;
}

type Source =
  | { kind: 'peer'; peer: string; holding: 'complete' | 'partial' }
  | { kind: 'owner'; peer: string }
  | { kind: 'upstream' }
  /** A neighbour directly linked to a holder we have no direct link to (another site behind NAT). */
  | { kind: 'through'; peer: string };

export class NoSource extends Error {
  override readonly name = 'NoSource';
}

/** Concurrent fetches peers may start here (an image has a handful of layers; a site pulls a few at once). */
const MAX_DELEGATED_FLIGHTS = 16;

/** Peers whose bytes went into a blob, and whether they only relayed a fetch of their own under way. */
type Contributors = Map<string, boolean>;

const describe = (s: Source) => (s.kind === 'upstream' ? 'upstream' : `${s.kind} ${s.peer}`);

/**
 * Gets a blob into the store, once per digest however many ask at once: the local store, then peers that hold it
 * (complete or still fetching: partial holders stream it as it arrives), then the digest's rendezvous owner
 * (asked to fetch it for us), then upstream. A source that fails or stalls hands over to the next, which resumes
 * at the byte offset reached; bytes that do not match the digest are thrown away and their peers penalised.
 */
export class BlobFetcher {
  readonly #store: ContentStore;
  readonly #peers: PeerClient;
  readonly #router: Router;
  readonly #random: () => number;
  readonly #upstream: UpstreamClient;
  readonly #scores: PeerScores;
  readonly #opts: FetcherOptions;
  readonly #log: Logger;
  readonly #flights = new Map<Digest, { ready: Promise<void>; done: Promise<void> }>();
  /** Bytes each source delivered, for the benchmark and the tests. */
  readonly bytesFrom = { peers: 0, upstream: 0 };

  constructor(deps: {
    store: ContentStore;
    peers: PeerClient;
    /** Who holds a digest; by default every linked peer is asked. */
    router?: Router;
    upstream: UpstreamClient;
    scores: PeerScores;
    opts: FetcherOptions;
    log: Logger;
  }) {
    this.#store = deps.store;
    this.#peers = deps.peers;
    this.#router = deps.router ?? new LinkedPeersRouter(deps.peers);
    this.#random = deps.opts.random ?? Math.random;
    this.#upstream = deps.upstream;
    this.#scores = deps.scores;
    this.#opts = deps.opts;
    this.#log = deps.log;
  }

  /** Resolves when the blob is in the store, verified. */
  async fetch(digest: Digest, ctx: BlobContext): Promise<void> {
    if (this.#store.has(digest)) return;
    await this.#flight(digest, ctx).done;
  }

  /**
   * Whether a peer may have this agent fetch `digest` on its behalf now: joining a fetch already under way always,
   * a new one only while fewer than MAX_DELEGATED_FLIGHTS run, since a peer's request starts a fetch that outlives
   * it.
   */
  mayStartFor(digest: Digest): boolean {
    return this.#flights.has(digest) || this.#flights.size < MAX_DELEGATED_FLIGHTS;
  }

  /**
   * Whether a peer this agent is directly linked to, other than `asker`, holds all of `digest`: a neighbour asks
   * before it has us fetch it through. Partial holders do not count: a fetch for a peer takes complete copies only.
   */
  async reachable(digest: Digest, asker: string): Promise<boolean> {
    const holders = await this.#router.lookup(digest, {
      signal: AbortSignal.timeout(this.#opts.haveTimeoutMs),
      skip: (peer) => peer === asker || !this.#scores.usable(peer),
    });
    return holders.some((h) => h.holding === 'complete');
  }

  /** Starts (or joins) the fetch and resolves once its bytes can be followed through `store.partial()`. */
  async start(digest: Digest, ctx: BlobContext): Promise<void> {
    if (this.#store.has(digest)) return;
    const flight = this.#flight(digest, ctx);
    flight.done.catch(() => {});
    await flight.ready;
  }

  #flight(digest: Digest, ctx: BlobContext): { ready: Promise<void>; done: Promise<void> } {
    let flight = this.#flights.get(digest);
    if (!flight) {
      const writer = this.#store.begin(digest, ctx.size);
      const done = writer.then((w) => this.#run(w, ctx)).finally(() => this.#flights.delete(digest));
      flight = { ready: writer.then(() => {}), done };
      // `fetch` awaits only `done`: a store that cannot open the blob must not become an unhandled rejection.
      flight.ready.catch(() => {});
      this.#flights.set(digest, flight);
    }
    return flight;
  }

  async #run(first: BlobWriter, ctx: BlobContext): Promise<void> {
    let writer = first;
    const excluded = new Set<string>();
    for (let round = 1; ; round++) {
      const contributors: Contributors = new Map();
      try {
        await this.#fill(writer, ctx, excluded, contributors);
        await this.#store.commit(writer);
        this.#router.advertise([writer.digest]).catch((err: unknown) => {
          this.#log.debug(
            { digest: writer.digest, err: (err as Error).message },
            'advertising a blob failed',
          );
        });
        return;
      } catch (err) {
        if (!(err instanceof DigestMismatch)) {
          await this.#store.abort(writer, err as Error);
          throw err;
        }
        // commit() already dropped the bytes; whoever sent them lied or is broken. A relay (a peer streaming a
        // fetch of its own still under way) passes on bytes nobody has verified yet: it failed, it did not lie.
        for (const [peer, relayed] of contributors) {
          this.#scores.penalise(peer, relayed ? 'failed' : 'corrupt');
          excluded.add(peer);
        }
        this.#log.warn({ digest: writer.digest, peers: [...contributors], round }, 'blob failed its digest');
        if (round >= this.#opts.maxRounds) throw err;
        writer = await this.#store.begin(writer.digest, ctx.size);
      }
    }
  }

  async #fill(
    writer: BlobWriter,
    ctx: BlobContext,
    excluded: ReadonlySet<string>,
    contributors: Contributors,
  ): Promise<void> {
    const sources = await this.#plan(writer.digest, ctx, excluded);
    const errors: string[] = [];
    if (await this.#tryEach(sources, writer, ctx, contributors, errors)) return;
    // No linked holder, no owner, no upstream: last, a neighbour that reaches a holder we cannot dial (a site
    // behind NAT whose only link to the other is a reachable member). Never for a fetch a peer asked of us.
    if (ctx.delegate) {
      const tried = new Set(sources.flatMap((s) => (s.kind === 'upstream' ? [] : [s.peer])));
      const through = await throughNeighbours(
        this.#peers,
        writer.digest,
        (p) => tried.has(p) || excluded.has(p) || !this.#scores.usable(p),
      );
      const neighbours = through.map((peer): Source => ({ kind: 'through', peer }));
      if (await this.#tryEach(neighbours, writer, ctx, contributors, errors)) return;
    }
    throw new NoSource(`no source could provide ${writer.digest}: ${errors.join('; ') || 'none known'}`);
  }

  /** Each source in turn until one delivers the rest of the blob; false if none did (why, in `errors`). */
  async #tryEach(
    sources: readonly Source[],
    writer: BlobWriter,
    ctx: BlobContext,
    contributors: Contributors,
    errors: string[],
  ): Promise<boolean> {
    for (const source of sources) {
      // A source that failed after its last byte left nothing to fetch: the digest check decides.
      if (ctx.size !== undefined && writer.written === ctx.size) return true;
      const controller = new AbortController();
      try {
        await this.#pullFrom(source, writer, ctx, controller.signal, contributors);
        return true;
      } catch (err) {
        controller.abort(err);
        // Our own disk is full: no other source can help, and the source was not at fault.
        if (err instanceof StoreFull) throw err;
        errors.push(`${describe(source)}: ${(err as Error).message}`);
        if (source.kind !== 'upstream') {
          const offence: Offence = err instanceof StallError ? 'stalled' : 'failed';
          this.#scores.penalise(source.peer, offence);
        }
        this.#log.info(
          {
            digest: writer.digest,
            source: describe(source),
            at: writer.written,
            err: (err as Error).message,
          },
          'blob source failed; resuming from the next',
        );
      }
    }
    return false;
  }

  async #plan(digest: Digest, ctx: BlobContext, excluded: ReadonlySet<string>): Promise<Source[]> {
    const connected = this.#peers.connectedPeers();
    const unusable = (p: string) => excluded.has(p) || !this.#scores.usable(p);
    // Every peer that is linked counts, penalised or not, so linked agents agree on the owner.
    const owner = ctx.delegate ? rendezvousOwner(digest, [this.#opts.self, ...connected]) : undefined;
    const ownerUsable = owner !== undefined && connected.includes(owner) && !unusable(owner);
    const answers = await this.#router.lookup(digest, {
      signal: AbortSignal.timeout(this.#opts.haveTimeoutMs),
      skip: unusable,
    });
    // Follow a peer still fetching only when it ranks above us for this digest: edges of "streams from" then
    // always climb in rank, so agents that start together can never wait on each other in a cycle, and the
    // owner (top rank) takes only complete copies or upstream.
    const myWeight = rendezvousWeight(digest, this.#opts.self);
    // A fetch a peer asked of us takes complete copies only: the asker itself holds the blob partially, and
    // following it would wait on our own stream to it.
    const useful = answers.filter(
      (a) =>
        a.holding === 'complete' ||
        (ctx.delegate && a.holding === 'partial' && rendezvousWeight(digest, a.peer) > myWeight),
    );
    const holders = shuffle(useful, this.#random);
    // Complete copies first: a partial holder is only as fast as its own source.
    holders.sort((a, b) => (a.holding === b.holding ? 0 : a.holding === 'complete' ? -1 : 1));
    const sources: Source[] = holders.map((h) => ({ kind: 'peer', ...h }));
    if (owner && ownerUsable && owner !== this.#opts.self && !holders.some((h) => h.peer === owner))
      sources.push({ kind: 'owner', peer: owner });
    sources.push({ kind: 'upstream' });
    return sources;
  }

  async #pullFrom(
    source: Source,
    writer: BlobWriter,
    ctx: BlobContext,
    signal: AbortSignal,
    contributors: Contributors,
  ): Promise<void> {
    const limit = ctx.size ?? this.#opts.maxBlobBytes;
    const start = writer.written;
    let chunks: AsyncIterable<Uint8Array>;
    if (source.kind === 'upstream') {
      chunks = withStall(
        await this.#upstream.blob(ctx.registry, ctx.repository, writer.digest, start, signal),
        this.#opts.upstreamStallMs,
      );
    } else {
      const through =
        source.kind === 'peer' ? undefined : { registry: ctx.registry, repository: ctx.repository };
      chunks = (await this.#peers.blob(source.peer, writer.digest, start, through, signal)).chunks;
    }
    for await (const chunk of chunks) {
      if (writer.written + chunk.length > limit)
        throw new Error(`source sent more than the blob's ${limit} bytes`);
      if (source.kind !== 'upstream')
        contributors.set(
          source.peer,
          (contributors.get(source.peer) ?? false) || source.kind !== 'peer' || source.holding === 'partial',
        );
      await writer.append(chunk);
      if (this.#opts.writeBytesPerSecond)
        await sleep((1000 * chunk.length) / this.#opts.writeBytesPerSecond, signal);
      if (source.kind === 'upstream') this.bytesFrom.upstream += chunk.length;
      else this.bytesFrom.peers += chunk.length;
    }
    if (ctx.size !== undefined && writer.written !== ctx.size)
      throw new Error(`source ended at ${writer.written} of ${ctx.size} bytes`);
  }
}

/** Upstream bodies have no frames to time: a silent body ends with StallError instead of hanging. */
async function* withStall(body: AsyncIterable<Uint8Array>, stallMs: number): AsyncGenerator<Uint8Array> {
  const iterator = body[Symbol.asyncIterator]();
  try {
    while (true) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new StallError(`upstream sent nothing for ${stallMs} ms`)), stallMs);
      });
      try {
        const next = await Promise.race([iterator.next(), stalled]);
        if (next.done) return;
        yield next.value;
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    void iterator.return?.();
  }
}
