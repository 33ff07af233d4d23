import { open } from 'node:fs/promises';
import type { Connection, Stream } from '@libp2p/interface';
import type { Logger } from 'pino';
import { FramedStream } from '../lib/p2p/framed-stream.js';
import type { BlobFetcher } from './blob-fetcher.js';
import type { ContentStore } from './content-store.js';
import type { Digest } from './digest.js';
import { tagKey } from './image-ref.js';
import {
  DATA_FRAME_BYTES,
  decodeJson,
  encodeJson,
  type Holding,
  type ImageHolding,
  MAX_REQUEST_BYTES,
  OCI_PROTOCOL,
  type OciRequest,
  type OciResponse,
  requestSchema,
} from './oci-protocol.js';

export interface PeerServerOptions {
  /** Blob streams served to one peer at once; more are refused as busy. */
  readonly maxServesPerPeer: number;
  readonly maxServes: number;
  /** Longest a single frame write may wait on a peer that stopped reading. */
  readonly writeTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

export interface ServedHost {
  handle(
    protocol: string,
    handler: (stream: Stream, connection: Connection) => void,
    options: { maxInboundStreams: number; maxOutboundStreams: number },
  ): Promise<void>;
  unhandle(protocol: string): Promise<void>;
}

const EMPTY = new Uint8Array(0);
/** "reach" questions answered at once: each asks every linked peer "have", so a burst must not fan out unbounded. */
const MAX_REACH_LOOKUPS = 16;

/** The serving side of the OCI stream protocol: what this agent holds, and what it is fetching right now. */
export class PeerServer {
  readonly #host: ServedHost;
  readonly #store: ContentStore;
  readonly #fetcher: BlobFetcher;
  readonly #images: () => ImageHolding[];
  readonly #opts: PeerServerOptions;
  readonly #log: Logger;
  readonly #perPeer = new Map<string, number>();
  readonly #stop = new AbortController();
  #serving = 0;
  #reaching = 0;

  constructor(deps: {
    host: ServedHost;
    store: ContentStore;
    fetcher: BlobFetcher;
    images: () => ImageHolding[];
    opts: PeerServerOptions;
    log: Logger;
  }) {
    this.#host = deps.host;
    this.#store = deps.store;
    this.#fetcher = deps.fetcher;
    this.#images = deps.images;
    this.#opts = deps.opts;
    this.#log = deps.log;
  }

  async start(): Promise<void> {
    await this.#host.handle(OCI_PROTOCOL, (stream, connection) => void this.#serve(stream, connection), {
      // Blob serves are limited per peer above; "have" and "tag" questions are short and come in bursts.
      maxInboundStreams: this.#opts.maxServesPerPeer + 64,
      maxOutboundStreams: 64,
    });
  }

  async stop(): Promise<void> {
    this.#stop.abort(new Error('agent stopping'));
    await this.#host.unhandle(OCI_PROTOCOL);
  }

  async #serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    const framed = new FramedStream(stream, {
      maxFrameBytes: MAX_REQUEST_BYTES,
      idleTimeoutMs: this.#opts.writeTimeoutMs,
      signal: this.#stop.signal,
    });
    const requestDeadline = AbortSignal.timeout(this.#opts.requestTimeoutMs);
    let request: OciRequest;
    try {
      const frame = await framed.read({ signal: requestDeadline });
      const parsed = frame ? requestSchema.safeParse(decodeJson(frame)) : undefined;
      if (!parsed?.success) {
        this.#log.warn(
          { peer, error: parsed?.error.issues[0]?.message ?? 'no request' },
          'oci: malformed request dropped',
        );
        framed.abort(new Error('malformed request'));
        return;
      }
      request = parsed.data;
    } catch (err) {
      this.#log.debug({ peer, err }, 'oci: unreadable request');
      framed.abort(err as Error);
      return;
    }
    try {
      if (request.op === 'blob') {
        await this.#serveBlob(peer, request, framed);
      } else if (request.op === 'reach') {
        await framed.write(encodeJson(await this.#reach(peer, request.digest)), { signal: requestDeadline });
      } else {
        await framed.write(encodeJson(this.#answer(request)), { signal: requestDeadline });
      }
      await framed.close();
    } catch (err) {
      this.#log.debug({ peer, op: request.op, err: (err as Error).message }, 'oci: serving failed');
      framed.abort(err as Error);
    }
  }

  /**
   * Whether `asker` may fetch `digest` through us: we hold all of it, or a peer we are directly linked to does. A
   * fetch of our own under way does not count: two agents fetching the same digest would each follow the other.
   */
  async #reach(asker: string, digest: Digest): Promise<OciResponse> {
    if (this.#store.has(digest)) return { ok: true, reach: true };
    if (this.#reaching >= MAX_REACH_LOOKUPS) return { ok: false, error: 'busy', busy: true };
    this.#reaching++;
    try {
      return { ok: true, reach: await this.#fetcher.reachable(digest, asker) };
    } finally {
      this.#reaching--;
    }
  }

  #answer(request: Exclude<OciRequest, { op: 'blob' | 'reach' }>): OciResponse {
    switch (request.op) {
      case 'have': {
        const have: Record<string, Holding> = {};
        for (const digest of request.digests) {
          if (this.#store.has(digest)) have[digest] = 'complete';
          else if (this.#store.partial(digest)) have[digest] = 'partial';
        }
        return { ok: true, have };
      }
      case 'tag': {
        const entry = this.#store.tag(tagKey(request.registry, request.repository, request.tag));
        return entry
          ? { ok: true, digest: entry.digest, mediaType: entry.mediaType }
          : { ok: false, error: 'unknown tag' };
      }
      case 'images':
        return { ok: true, images: this.#images() };
    }
  }

  async #serveBlob(
    peer: string,
    request: Extract<OciRequest, { op: 'blob' }>,
    framed: FramedStream,
  ): Promise<void> {
    // Each write waits while the peer reads slowly; one that stops reading for writeTimeoutMs resets the stream.
    const write = (data: Uint8Array) => framed.write(data);
    const active = this.#perPeer.get(peer) ?? 0;
    if (active >= this.#opts.maxServesPerPeer || this.#serving >= this.#opts.maxServes) {
      await write(encodeJson({ ok: false, error: 'busy', busy: true } satisfies OciResponse));
      return;
    }
    this.#perPeer.set(peer, active + 1);
    this.#serving++;
    try {
      const { digest, offset } = request;
      if (!this.#store.has(digest) && !this.#store.partial(digest) && request.through) {
        if (!this.#fetcher.mayStartFor(digest)) {
          await write(encodeJson({ ok: false, error: 'busy', busy: true } satisfies OciResponse));
          return;
        }
        await this.#fetcher.start(digest, { ...request.through, delegate: false });
      }
      const size = this.#store.size(digest);
      if (size !== undefined) {
        await write(encodeJson({ ok: true, size, mediaType: this.#store.mediaType(digest) ?? null }));
        if (offset < size) {
          for await (const chunk of this.#store.read(digest, offset))
            await writeFrames(write, chunk as Buffer);
        }
      } else {
        const writer = this.#store.partial(digest);
        if (!writer) {
          await write(encodeJson({ ok: false, error: 'not held' } satisfies OciResponse));
          return;
        }
        await write(encodeJson({ ok: true, size: null, mediaType: null } satisfies OciResponse));
        await this.#follow(digest, offset, write);
      }
      await write(EMPTY);
    } finally {
      this.#serving--;
      const left = (this.#perPeer.get(peer) ?? 1) - 1;
      if (left === 0) this.#perPeer.delete(peer);
      else this.#perPeer.set(peer, left);
    }
  }

  /** Streams a blob still being fetched, following its temp file as it grows. */
  async #follow(digest: Digest, offset: number, write: (data: Uint8Array) => Promise<void>): Promise<void> {
    const writer = this.#store.partial(digest);
    if (!writer) throw new Error('fetch ended before it could be followed');
    const file = await open(writer.tempPath, 'r');
    try {
      let at = offset;
      while (true) {
        await writer.waitFor(at, this.#stop.signal);
        if (writer.written > at) {
          // A fresh buffer per frame: the muxer may still hold the previous one when write() returns.
          const buffer = Buffer.allocUnsafe(DATA_FRAME_BYTES);
          const { bytesRead } = await file.read(
            buffer,
            0,
            Math.min(DATA_FRAME_BYTES, writer.written - at),
            at,
          );
          if (bytesRead === 0) throw new Error('temp file shorter than written');
          await write(buffer.subarray(0, bytesRead));
          at += bytesRead;
          continue;
        }
        if (writer.state === 'complete') return;
        if (writer.state === 'failed') throw writer.error ?? new Error('fetch failed');
      }
    } finally {
      await file.close();
    }
  }
}

/** A read stream's chunk size is its own business; a frame must stay within what the asking side accepts. */
async function writeFrames(write: (data: Uint8Array) => Promise<void>, chunk: Uint8Array): Promise<void> {
  for (let at = 0; at < chunk.length; at += DATA_FRAME_BYTES)
    await write(chunk.subarray(at, at + DATA_FRAME_BYTES));
}
