import type { Connection, Stream } from '@libp2p/interface';
import { FramedStream, NoProgress } from '../lib/p2p/framed-stream.js';
import { isDirect, newestConnection } from '../lib/p2p/newest-connection.js';
import { openStream } from '../lib/p2p/open-stream.js';
import type { Digest } from './digest.js';
import {
  DATA_FRAME_BYTES,
  decodeJson,
  encodeJson,
  type Holding,
  type ImageHolding,
  MAX_HEADER_BYTES,
  OCI_PROTOCOL,
  type OciRequest,
} from './oci-protocol.js';

export interface PeerClientOptions {
  /** Deadline of a request until its response header. */
  readonly requestTimeoutMs: number;
  /** Longest wait for the next data frame of a blob before the source counts as stalled. */
  readonly stallMs: number;
}

export class StallError extends Error {
  override readonly name = 'StallError';
}

export class PeerRefused extends Error {
  override readonly name = 'PeerRefused';
}

export interface BlobStream {
  /** Null while the peer is itself still fetching the blob. */
  readonly size: number | null;
  readonly mediaType: string | null;
  readonly chunks: AsyncIterable<Uint8Array>;
}

/**
 * The asking side of the OCI stream protocol. Rides existing connections only: content routing asks the peers
 * this agent is linked to, and never dials the fleet.
 */
export class PeerClient {
  readonly #connections: () => Connection[];
  readonly #opts: PeerClientOptions;

  constructor(connections: () => Connection[], opts: PeerClientOptions) {
    this.#connections = connections;
    this.#opts = opts;
  }

  connectedPeers(): string[] {
    return [
      ...new Set(
        this.#direct()
          .filter((c) => c.status === 'open')
          .map((c) => c.remotePeer.toString()),
      ),
    ];
  }

  /**
   * Relayed connections carry a relay's byte and time limits and refuse the OCI protocol: a peer reached only
   * through a relay is not linked for image sharing (a neighbour can fetch through for us instead).
   */
  #direct(): Connection[] {
    return this.#connections().filter(isDirect);
  }

  async have(
    peer: string,
    digests: readonly Digest[],
    signal?: AbortSignal,
  ): Promise<Record<string, Holding>> {
    const header = await this.#request(peer, { op: 'have', digests: [...digests] }, signal);
    const have = (header.value as { have?: unknown }).have;
    header.close();
    if (typeof have !== 'object' || have === null) throw new Error('malformed have answer');
    const out: Record<string, Holding> = {};
    for (const digest of digests) {
      const h = (have as Record<string, unknown>)[digest];
      if (h === 'complete' || h === 'partial') out[digest] = h;
    }
    return out;
  }

  async tag(
    peer: string,
    registry: string,
    repository: string,
    tag: string,
    signal?: AbortSignal,
  ): Promise<{ digest: string; mediaType: string }> {
    const header = await this.#request(peer, { op: 'tag', registry, repository, tag }, signal);
    header.close();
    const { digest, mediaType } = header.value as { digest?: unknown; mediaType?: unknown };
    if (typeof digest !== 'string' || typeof mediaType !== 'string') throw new Error('malformed tag answer');
    return { digest, mediaType };
  }

  async images(peer: string, signal?: AbortSignal): Promise<ImageHolding[]> {
    const header = await this.#request(peer, { op: 'images' }, signal);
    header.close();
    const images = (header.value as { images?: unknown }).images;
    if (!Array.isArray(images)) throw new Error('malformed images answer');
    return images.filter(
      (i): i is ImageHolding =>
        typeof i?.ref === 'string' && typeof i?.digest === 'string' && typeof i?.complete === 'boolean',
    );
  }

  /**
   * Whether `peer` holds all of `digest` or is directly linked to a peer that does (it asks them on our behalf).
   * An agent that predates the question drops it: the caller counts that as "no".
   */
  async reach(peer: string, digest: Digest, signal?: AbortSignal): Promise<boolean> {
    const header = await this.#request(peer, { op: 'reach', digest }, signal);
    header.close();
    return (header.value as { reach?: unknown }).reach === true;
  }

  /** A blob from `offset`; the chunks end at the peer's end marker and throw StallError on silence. */
  async blob(
    peer: string,
    digest: Digest,
    offset: number,
    through: { registry: string; repository: string } | undefined,
    signal: AbortSignal,
  ): Promise<BlobStream> {
    const request: OciRequest = { op: 'blob', digest, offset, ...(through ? { through } : {}) };
    const header = await this.#request(peer, request, signal);
    const { size, mediaType } = header.value as { size?: unknown; mediaType?: unknown };
    const { stallMs, requestTimeoutMs } = this.#opts;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      // A peer still fetching may wait on its own source for the first bytes as long as a request may take;
      // once bytes flow, a silence of stallMs is a stall.
      let wait = size === null ? Math.max(stallMs, requestTimeoutMs) : stallMs;
      try {
        while (true) {
          header.framed.setIdleTimeout(wait);
          let frame: Uint8Array | undefined;
          try {
            frame = await header.framed.read();
          } catch (err) {
            if (err instanceof NoProgress) throw new StallError(`peer sent nothing for ${wait} ms`);
            throw err;
          }
          wait = stallMs;
          if (!frame) throw new Error('the peer ended the blob without its end marker');
          if (frame.length === 0) return;
          yield frame;
        }
      } finally {
        header.close();
      }
    }
    return {
      size: typeof size === 'number' ? size : null,
      mediaType: typeof mediaType === 'string' ? mediaType : null,
      chunks: chunks(),
    };
  }

  async #request(
    peer: string,
    request: OciRequest,
    outer: AbortSignal | undefined,
  ): Promise<{ value: unknown; framed: FramedStream; close: () => void }> {
    const connection = newestConnection(this.#direct(), peer);
    if (!connection) throw new Error(`not connected to ${peer}`);
    const timeout = AbortSignal.timeout(this.#opts.requestTimeoutMs);
    const signal = outer ? AbortSignal.any([outer, timeout]) : timeout;
    let stream: Stream | undefined;
    try {
      stream = await openStream(connection, OCI_PROTOCOL, signal);
      const framed = new FramedStream(stream, {
        maxFrameBytes: Math.max(MAX_HEADER_BYTES, DATA_FRAME_BYTES),
        idleTimeoutMs: this.#opts.requestTimeoutMs,
        ...(outer ? { signal: outer } : {}),
      });
      await framed.write(encodeJson(request), { signal });
      const frame = await framed.read({ signal });
      if (!frame) throw new Error('the peer closed the stream without an answer');
      const value = decodeJson(frame);
      const close = () => {
        void framed.close().catch((err: unknown) => framed.abort(err as Error));
      };
      if (typeof value !== 'object' || value === null || (value as { ok?: unknown }).ok !== true) {
        close();
        const error = (value as { error?: unknown } | null)?.error;
        throw new PeerRefused(typeof error === 'string' ? error.slice(0, 200) : 'refused');
      }
      return { value, framed, close };
    } catch (err) {
      stream?.abort(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }
}
