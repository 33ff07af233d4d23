import { readBoundedBody, streamBoundedBody } from '../lib/bounded-body.js';
import { isLoopbackHost } from '../lib/http-server.js';
import { parseJson } from '../lib/json-text.js';
import { MAX_MANIFEST_BYTES } from './content-store.js';
import { type Digest, parseDigest } from './digest.js';
import { isRepository, isTag } from './image-ref.js';

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface UpstreamOptions {
  /** Registries spoken to over plain HTTP; loopback ones always are. */
  readonly insecure: readonly string[];
  readonly credentials: Readonly<Record<string, Credentials>>;
  /** Deadline until response headers, and longest silence within a manifest or token body. */
  readonly timeoutMs: number;
}

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

const MAX_TOKENS = 256;
/** A token answer is a JWT or two and a few fields; Docker Hub's is about 4 KiB. */
const MAX_TOKEN_BYTES = 256 * 1024;
/** Manifests and tokens are small: a body still arriving after this many header deadlines is hostile. */
const BODY_DEADLINES = 4;
/**
 * A layer has no deadline of its own (a large one on a slow uplink takes long), but each header deadline of it
 * must bring this much: about 1 KB/s, far below any honest link, far above a server that trickles to hold us.
 */
const MIN_BLOB_BYTES_PER_DEADLINE = 16 * 1024;

/**
 * The OCI distribution read API of an upstream registry. Auth is minimal: HTTP Basic with configured
 * credentials, and the Bearer token dance (`WWW-Authenticate: Bearer realm=…`) with those credentials or
 * anonymously; a token is cached per registry and repository until the registry refuses it.
 */
export class UpstreamClient {
  readonly #opts: UpstreamOptions;
  readonly #tokens = new Map<string, string>();

  constructor(opts: UpstreamOptions) {
    this.#opts = opts;
  }

  #base(registry: string): string {
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    const plain = isLoopbackHost(host.replace(/:\d+$/, '')) || this.#opts.insecure.includes(registry);
    return `${plain ? 'http' : 'https'}://${host}`;
  }

  async manifest(
    registry: string,
    repository: string,
    reference: string,
    signal?: AbortSignal,
  ): Promise<{ bytes: Uint8Array; mediaType: string }> {
    // A reference becomes part of the URL: `../..` would climb out of /v2/ on the registry's host with the
    // configured credentials attached.
    if (!isTag(reference) && !parseDigest(reference))
      throw new UpstreamError(`"${reference}" is neither a tag nor a sha256 digest`, 400);
    const res = await this.#get(
      registry,
      repository,
      `manifests/${reference}`,
      { accept: MANIFEST_TYPES.join(', ') },
      signal,
    );
    const bytes = await this.#body(
      res,
      MAX_MANIFEST_BYTES,
      `manifest ${repository}:${reference} from ${registry}`,
      signal,
    );
    const mediaType = res.headers.get('content-type')?.split(';')[0]?.trim() ?? MANIFEST_TYPES[1]!;
    return { bytes, mediaType };
  }

  /** The blob's body from `offset`; a registry that ignores Range has its first `offset` bytes skipped. */
  async blob(
    registry: string,
    repository: string,
    digest: Digest,
    offset: number,
    signal: AbortSignal,
  ): Promise<AsyncIterable<Uint8Array>> {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const res = await this.#get(registry, repository, `blobs/${digest}`, headers, signal);
    if (!res.body) throw new UpstreamError('blob response without a body');
    // The fetcher bounds the bytes by the blob's size; here only its pace is bounded.
    const body = streamBoundedBody(res, {
      maxBytes: Number.MAX_SAFE_INTEGER,
      stallMs: this.#opts.timeoutMs,
      minBytesPerStall: MIN_BLOB_BYTES_PER_DEADLINE,
      signal,
      what: `blob ${digest} from ${registry}`,
    });
    if (offset === 0 || res.status === 206) return body;
    return skip(body, offset);
  }

  async #body(res: Response, maxBytes: number, what: string, signal?: AbortSignal): Promise<Uint8Array> {
    try {
      return await readBoundedBody(res, {
        maxBytes,
        stallMs: this.#opts.timeoutMs,
        totalMs: BODY_DEADLINES * this.#opts.timeoutMs,
        what,
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (err instanceof UpstreamError) throw err;
      throw new UpstreamError(`${what}: ${(err as Error).message}`, undefined, { cause: err });
    }
  }

  async #get(
    registry: string,
    repository: string,
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Response> {
    if (!isRepository(repository))
      throw new UpstreamError(
        `"${repository}" is not a repository name (lowercase components joined by /)`,
        400,
      );
    const url = `${this.#base(registry)}/v2/${repository}/${path}`;
    const key = `${registry}/${repository}`;
    let retried = false;
    while (true) {
      const auth = this.#tokens.get(key) ?? this.#basic(registry);
      // The deadline covers the wait for headers only: a body streams as long as bytes keep coming, and its
      // silences are the caller's stall timer's business.
      const headersDeadline = new AbortController();
      const timer = setTimeout(
        () =>
          headersDeadline.abort(
            new UpstreamError(`${registry} sent no headers in ${this.#opts.timeoutMs} ms`),
          ),
        this.#opts.timeoutMs,
      );
      let res: Response;
      try {
        res = await fetch(url, {
          headers: { ...headers, ...(auth ? { authorization: auth } : {}) },
          signal: signal ? AbortSignal.any([signal, headersDeadline.signal]) : headersDeadline.signal,
          redirect: 'follow',
        });
      } catch (err) {
        throw new UpstreamError(`${registry} unreachable: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
      if (res.status === 401 && !retried) {
        retried = true;
        await res.body?.cancel();
        const token = await this.#token(registry, repository, res.headers.get('www-authenticate'), signal);
        if (token) {
          this.#tokens.set(key, token);
          while (this.#tokens.size > MAX_TOKENS)
            this.#tokens.delete(this.#tokens.keys().next().value as string);
          continue;
        }
      }
      if (!res.ok) {
        await res.body?.cancel();
        this.#tokens.delete(key);
        throw new UpstreamError(`${registry} answered ${res.status} for ${repository}/${path}`, res.status);
      }
      return res;
    }
  }

  #basic(registry: string): string | undefined {
    const creds = this.#opts.credentials[registry];
    return creds
      ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
      : undefined;
  }

  async #token(
    registry: string,
    repository: string,
    challenge: string | null,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    if (!challenge?.toLowerCase().startsWith('bearer ')) return undefined;
    const params = Object.fromEntries(
      [...challenge.slice(7).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]?.toLowerCase(), m[2]]),
    );
    if (!params.realm) return undefined;
    let url: URL;
    try {
      url = new URL(params.realm);
    } catch {
      throw new UpstreamError(`${registry} names a token realm that is not a URL: "${params.realm}"`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new UpstreamError(`${registry} names a token realm that is not http(s): "${params.realm}"`);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${repository}:pull`);
    const basic = this.#basic(registry);
    const timeout = AbortSignal.timeout(this.#opts.timeoutMs);
    const res = await fetch(url, {
      headers: basic ? { authorization: basic } : {},
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    }).catch(() => undefined);
    if (!res?.ok) {
      await res?.body?.cancel().catch(() => {});
      return undefined;
    }
    const text = new TextDecoder().decode(
      await this.#body(res, MAX_TOKEN_BYTES, `token for ${registry} from ${url.host}`, signal),
    );
    let body: { token?: unknown; access_token?: unknown } = {};
    try {
      body = (parseJson(text) ?? {}) as typeof body;
    } catch {}
    const token = body.token ?? body.access_token;
    return typeof token === 'string' && token ? `Bearer ${token}` : undefined;
  }
}

async function* skip(body: AsyncIterable<Uint8Array>, bytes: number): AsyncGenerator<Uint8Array> {
  let left = bytes;
  for await (const chunk of body) {
    if (left >= chunk.length) {
      left -= chunk.length;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}
