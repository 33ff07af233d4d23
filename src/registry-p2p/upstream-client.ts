import { isLoopbackHost } from '../node/control-api.js';
import type { Digest } from './digest.js';

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
  /** Deadline until response headers. */
  readonly timeoutMs: number;
}

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

const MAX_TOKENS = 256;

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
    const res = await this.#get(
      registry,
      repository,
      `manifests/${reference}`,
      { accept: MANIFEST_TYPES.join(', ') },
      signal,
    );
    const length = Number(res.headers.get('content-length') ?? 0);
    if (length > 4 * 1024 * 1024) throw new UpstreamError(`manifest of ${length} bytes is too large`);
    const bytes = new Uint8Array(await res.arrayBuffer());
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
    const body = res.body as AsyncIterable<Uint8Array>;
    if (offset === 0 || res.status === 206) return body;
    return skip(body, offset);
  }

  async #get(
    registry: string,
    repository: string,
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Response> {
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
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${repository}:pull`);
    const basic = this.#basic(registry);
    const timeout = AbortSignal.timeout(this.#opts.timeoutMs);
    const res = await fetch(url, {
      headers: basic ? { authorization: basic } : {},
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    }).catch(() => undefined);
    if (!res?.ok) return undefined;
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    return token ? `Bearer ${token}` : undefined;
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
