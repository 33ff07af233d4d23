import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { closeHttp, listenHttp } from '../node/control-api.js';
import type { BlobFetcher } from './blob-fetcher.js';
import type { ContentStore } from './content-store.js';
import { parseDigest } from './digest.js';
import type { ImagePuller } from './image-puller.js';
import { decodeRegistry } from './image-ref.js';

const ROUTE = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/;
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/**
 * The registry Docker Engine pulls from: `/v2/<upstream host, ':' as '_'>/<repository>/...` on loopback, read
 * only. Blobs are handed over only from the store, so only after their digest checked out.
 */
export class LocalEndpoint {
  readonly #store: ContentStore;
  readonly #fetcher: BlobFetcher;
  readonly #puller: ImagePuller;
  readonly #log: Logger;
  #server: Server | undefined;

  constructor(deps: { store: ContentStore; fetcher: BlobFetcher; puller: ImagePuller; log: Logger }) {
    this.#store = deps.store;
    this.#fetcher = deps.fetcher;
    this.#puller = deps.puller;
    this.#log = deps.log;
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
      if (!m || !registry || !REPOSITORY.test(repository))
        return error(res, 404, 'NAME_UNKNOWN', 'expected /v2/<registry host, ":" as "_">/<repository>/...');
      const reference = decodeURIComponent(m[3] ?? '');
      if (m[2] === 'manifests') {
        const digest = parseDigest(reference);
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
        await this.#fetcher.fetch(digest, {
          registry,
          repository,
          ...(size === undefined ? {} : { size }),
          delegate: true,
        });
      }
      this.#sendBlob(req, res, digest);
    } catch (err) {
      this.#log.warn({ url: req.url, err: (err as Error).message }, 'local registry request failed');
      if (!res.headersSent) error(res, 404, 'BLOB_UNKNOWN', (err as Error).message);
      else res.destroy();
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

function error(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ errors: [{ code, message }] }));
}
