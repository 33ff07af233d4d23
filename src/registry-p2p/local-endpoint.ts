import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { closeHttp, listenHttp } from '../lib/http-server.js';
import { PeerRateLimiter, type RateLimit } from '../lib/rate-limiter.js';
import type { BlobFetcher } from './blob-fetcher.js';
import { type ContentStore, StoreFull } from './content-store.js';
import { parseDigest } from './digest.js';
import type { ImagePuller } from './image-puller.js';
import { decodeRegistry, isRepository, isTag } from './image-ref.js';
import { UpstreamError } from './upstream-client.js';

const ROUTE = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/;
const LOG_EVERY_MS = 10_000;

/**
 * The registry Docker Engine pulls from: `/v2/<upstream host, ':' as '_'>/<repository>/...` on loopback, read
 * only. Blobs are handed over only from the store, so only after their digest checked out.
 *
 * Anyone on the device can call it, unauthenticated, and name any upstream. What keeps that from filling the
 * disk or the uplink: the store's free-space reserve; blobs fetched only at the size a manifest declared; and a
 * per-client rate limit on requests that make the agent fetch (on loopback every local client shares one
 * budget; a throttled Docker pull falls back to pulling directly). Content already held is always served.
 */
export class LocalEndpoint {
  readonly #store: ContentStore;
  readonly #fetcher: BlobFetcher;
  readonly #puller: ImagePuller;
  readonly #log: Logger;
  readonly #fetches: PeerRateLimiter;
  readonly #maxFetches: number;
  readonly #now: () => number;
  /** Requests admitted by #mayFetch whose fetch is under way. */
  readonly #fetching = new Set<ServerResponse>();
  #throttled = { count: 0, loggedAt: 0 };
  #server: Server | undefined;

  constructor(deps: {
    store: ContentStore;
    fetcher: BlobFetcher;
    puller: ImagePuller;
    log: Logger;
    fetchLimit: RateLimit;
    /** Admitted fetches under way at once: each holds sockets and a temp file, however slow its source. */
    maxFetches: number;
    /** The rate limit's clock; Date.now by default. */
    now?: () => number;
  }) {
    this.#store = deps.store;
    this.#fetcher = deps.fetcher;
    this.#puller = deps.puller;
    this.#log = deps.log;
    this.#fetches = new PeerRateLimiter(deps.fetchLimit);
    this.#maxFetches = deps.maxFetches;
    this.#now = deps.now ?? Date.now;
  }

  /**
   * Whether `req`'s client may make this agent fetch once more; answers 429 when not. An admitted request holds
   * its slot until its fetch ends, not when its client hangs up: the fetch goes on without it.
   */
  #mayFetch(req: IncomingMessage, res: ServerResponse): boolean {
    const now = this.#now();
    const busy = this.#fetching.size >= this.#maxFetches;
    if (!busy && this.#fetches.take(req.socket.remoteAddress ?? '?', now)) {
      this.#fetching.add(res);
      return true;
    }
    this.#throttled.count++;
    if (now - this.#throttled.loggedAt >= LOG_EVERY_MS) {
      this.#log.warn({ refused: this.#throttled.count }, 'local registry endpoint throttled fetches');
      this.#throttled = { count: 0, loggedAt: now };
    }
    res.setHeader('retry-after', '1');
    error(
      res,
      429,
      'TOOMANYREQUESTS',
      busy
        ? `${this.#maxFetches} fetches are under way; retry later`
        : 'too many requests that need fetching; retry later',
    );
    return false;
  }

  /** Binds `host:port` (port 0 picks one); returns the bound `host:port`. */
  async listen(host: string, port: number): Promise<string> {
    const server = await listenHttp((req, res) => this.#handle(req, res), host, port, {
      requestTimeout: 0,
      headersTimeout: 10_000,
    });
    this.#server = server;
    const address = server.address() as AddressInfo;
    return `${host}:${address.port}`;
  }

  async close(): Promise<void> {
    await closeHttp(this.#server);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('docker-distribution-api-version', 'registry/2.0');
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return error(res, 405, 'UNSUPPORTED', 'read only');
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (path === '/v2/' || path === '/v2')
        return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      const m = ROUTE.exec(path);
      const name = m?.[1] ?? '';
      const slash = name.indexOf('/');
      const registry = slash > 0 ? decodeRegistry(name.slice(0, slash)) : undefined;
      const repository = name.slice(slash + 1);
      if (!m || !registry || !isRepository(repository))
        return error(res, 404, 'NAME_UNKNOWN', 'expected /v2/<registry host, ":" as "_">/<repository>/...');
      const reference = decodeReference(m[3] ?? '');
      if (m[2] === 'manifests') {
        // Tags and digests need no escapes; a decoded `..%2f..` would climb out of /v2/ on the upstream host.
        const digest = parseDigest(reference);
        if (!digest && !isTag(reference))
          return error(
            res,
            400,
            'TAG_INVALID',
            `"${reference}" is neither a tag (letters, digits, _ . -, at most 128) nor a sha256 digest`,
          );
        // A tag is always asked upstream; a digest only when the store lacks it.
        if ((!digest || !this.#store.has(digest)) && !this.#mayFetch(req, res)) return;
        const manifest = digest
          ? await this.#puller.manifest(registry, repository, digest)
          : await this.#puller.resolveTag(registry, repository, reference);
        res.writeHead(200, {
          'content-type': manifest.mediaType,
          'content-length': manifest.bytes.length,
          'docker-content-digest': manifest.digest,
        });
        return void res.end(req.method === 'HEAD' ? undefined : manifest.bytes);
      }
      const digest = parseDigest(reference);
      if (!digest) return error(res, 400, 'DIGEST_INVALID', 'blobs are addressed by sha256 digest');
      // sizeOf walks every manifest seen: only a blob still to fetch needs its bound.
      if (!this.#store.has(digest)) {
        const size = this.#puller.sizeOf(digest);
        // Docker asks for a manifest before its blobs; a blob no manifest declared has no bound but 16 GiB.
        if (size === undefined)
          return error(
            res,
            404,
            'BLOB_UNKNOWN',
            `${digest} is in no manifest this agent has seen: pull the image's manifest first`,
          );
        if (!this.#mayFetch(req, res)) return;
        await this.#fetcher.fetch(digest, { registry, repository, size, delegate: true });
      }
      this.#sendBlob(req, res, digest);
    } catch (err) {
      this.#log.warn({ url: req.url, err: (err as Error).message }, 'local registry request failed');
      if (res.headersSent) res.destroy();
      else if (err instanceof StoreFull) error(res, 507, 'DENIED', err.message);
      // Upstream's own answer, passed on: Docker then names the true cause (manifest unknown, denied).
      else if (err instanceof UpstreamError && err.status === 404)
        error(res, 404, 'MANIFEST_UNKNOWN', err.message);
      else if (err instanceof UpstreamError && (err.status === 401 || err.status === 403))
        error(res, 403, 'DENIED', err.message);
      else error(res, 404, 'BLOB_UNKNOWN', (err as Error).message);
    } finally {
      this.#fetching.delete(res);
    }
  }

  #sendBlob(
    req: IncomingMessage,
    res: ServerResponse,
    digest: NonNullable<ReturnType<typeof parseDigest>>,
  ): void {
    const size = this.#store.size(digest);
    if (size === undefined) {
      error(res, 404, 'BLOB_UNKNOWN', 'evicted before it could be served');
      return;
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const end = range?.[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start > end && size > 0) {
      res.writeHead(416, { 'content-range': `bytes */${size}` });
      return void res.end();
    }
    const headers = {
      'content-type': 'application/octet-stream',
      'docker-content-digest': digest,
      'content-length': size === 0 ? 0 : end - start + 1,
      ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
    };
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD' || size === 0) return void res.end();
    const stream = this.#store.read(digest, start, end);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }
}

/** Some clients escape the digest's `:`; a malformed escape is the client's error, not ours. */
function decodeReference(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function error(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ errors: [{ code, message }] }));
}
