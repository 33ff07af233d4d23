import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyLimitError } from '../../src/lib/bounded-body.js';
import { MAX_MANIFEST_BYTES } from '../../src/registry-p2p/content-store.js';
import { sha256Digest } from '../../src/registry-p2p/digest.js';
import { UpstreamClient, UpstreamError } from '../../src/registry-p2p/upstream-client.js';
import { type HostileUpstream, startHostileUpstream, streamForever, trickle } from './hostile-upstream.js';

let up: HostileUpstream;
const CHUNK = new Uint8Array(64 * 1024).fill(0x7b);
const TIMEOUT_MS = 1_000;

beforeAll(async () => {
  up = await startHostileUpstream();
});

afterAll(async () => {
  await up?.stop();
});

function client(credentials = {}): UpstreamClient {
  return new UpstreamClient({ insecure: [], credentials, timeoutMs: TIMEOUT_MS });
}

async function failure(work: Promise<unknown>): Promise<UpstreamError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

function bytesRead(err: UpstreamError): number {
  expect(err.cause).toBeInstanceOf(BodyLimitError);
  return (err.cause as BodyLimitError).bytesRead;
}

describe('upstream bodies are bounded while they stream', () => {
  it('a manifest sent chunked without end is cut off just past the manifest limit, and its request aborted', async () => {
    up.written = 0;
    up.aborted = 0;
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      streamForever(up, res, CHUNK);
    };
    const rssBefore = process.memoryUsage().rss;
    const err = await failure(client().manifest(up.host, 'evil/endless', 'latest'));
    expect(err.message).toMatch(
      /manifest evil\/endless:latest from 127\.0\.0\.1:\d+ is larger than the 4194304 bytes allowed/,
    );
    expect(bytesRead(err)).toBeGreaterThan(MAX_MANIFEST_BYTES);
    expect(bytesRead(err)).toBeLessThanOrEqual(MAX_MANIFEST_BYTES + CHUNK.length);
    await expect.poll(() => up.aborted).toBe(1);
    // The server stops being read: what it wrote is the limit plus what loopback socket buffers hold.
    const written = up.written;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(up.written).toBe(written);
    expect(written).toBeLessThan(MAX_MANIFEST_BYTES + 32 * 1024 * 1024);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024);
  });

  it('a manifest announced larger than the limit is refused before its body is read', async () => {
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-length': String(MAX_MANIFEST_BYTES + 1) });
      res.write(CHUNK);
    };
    const err = await failure(client().manifest(up.host, 'evil/announced', 'latest'));
    expect(err.message).toMatch(/announces 4194305 bytes, more than the 4194304 allowed/);
    expect(bytesRead(err)).toBe(0);
  });

  it('a manifest that trickles a byte at a time fails at the total deadline', async () => {
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      trickle(up, res, 100);
    };
    const err = await failure(client().manifest(up.host, 'evil/trickle', 'latest'));
    expect(err.message).toMatch(/took longer than 4000 ms/);
    expect(bytesRead(err)).toBeLessThan(100);
  });

  it('a manifest whose body goes silent fails at the stall deadline', async () => {
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      res.write('{');
    };
    const err = await failure(client().manifest(up.host, 'evil/silent', 'latest'));
    expect(err.message).toMatch(/sent nothing for 1000 ms \(1 bytes read\)/);
  });

  it('a token realm that answers without end is cut off at the token limit', async () => {
    up.aborted = 0;
    up.handler = (req, res) => {
      if (req.url?.startsWith('/token')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return streamForever(up, res, CHUNK);
      }
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${up.host}/token",service="evil"` });
      res.end();
    };
    const err = await failure(client().manifest(up.host, 'evil/token', 'latest'));
    expect(err.message).toMatch(
      /token for 127\.0\.0\.1:\d+ from 127\.0\.0\.1:\d+ is larger than the 262144 bytes allowed/,
    );
    expect(bytesRead(err)).toBeLessThanOrEqual(256 * 1024 + CHUNK.length);
    await expect.poll(() => up.aborted).toBe(1);
  });

  it('a manifest read the caller gives up on ends at once and hangs up', async () => {
    up.aborted = 0;
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      trickle(up, res, 50);
    };
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('shutting down')), 300);
    const err = await failure(client().manifest(up.host, 'evil/cancel', 'latest', controller.signal));
    expect(err.message).toMatch(/^manifest evil\/cancel:latest from 127\.0\.0\.1:\d+: /);
    await expect.poll(() => up.aborted).toBe(1);
  });

  it('a small manifest still arrives whole', async () => {
    const manifest = JSON.stringify({ schemaVersion: 2, layers: [] });
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json; charset=utf-8' });
      res.write(manifest.slice(0, 5));
      setTimeout(() => res.end(manifest.slice(5)), 50);
    };
    const got = await client().manifest(up.host, 'fine/image', 'v1');
    expect(new TextDecoder().decode(got.bytes)).toBe(manifest);
    expect(got.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
  });
});

describe('upstream blobs', () => {
  const digest = sha256Digest(new Uint8Array(0));

  it('that trickle, never silent long enough to stall, are cut off for want of progress', async () => {
    up.aborted = 0;
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      trickle(up, res, 100);
    };
    const body = await client().blob(up.host, 'evil/trickle', digest, 0, new AbortController().signal);
    let read = 0;
    const err = await (async () => {
      for await (const chunk of body) read += chunk.length;
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BodyLimitError);
    expect((err as Error).message).toMatch(
      /blob sha256:[0-9a-f]{64} from 127\.0\.0\.1:\d+ sent \d+ bytes in 1000 ms, less than the 16384 needed to count as progress/,
    );
    expect(read).toBeLessThan(100);
    await expect.poll(() => up.aborted).toBe(1);
  });

  it('that stream steadily arrive whole, from the offset asked for', async () => {
    const bytes = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    up.handler = (req, res) => {
      const from = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
      res.writeHead(from ? 206 : 200, { 'content-length': bytes.length - from });
      res.end(bytes.subarray(from));
    };
    for (const offset of [0, 1_000_000]) {
      const body = await client().blob(up.host, 'fine/image', digest, offset, new AbortController().signal);
      const parts: Uint8Array[] = [];
      for await (const chunk of body) parts.push(chunk);
      expect(Buffer.concat(parts).equals(Buffer.from(bytes.subarray(offset)))).toBe(true);
    }
  });
});

describe('references that would leave /v2/ on the upstream host', () => {
  it('are refused before any request, so credentials never reach another path', async () => {
    up.paths.length = 0;
    up.handler = (_req, res) => void res.writeHead(200).end('{}');
    const creds = { [up.host]: { username: 'u', password: 'secret' } };
    for (const reference of ['../../api.token', '..', 'a/../../b', '%2e%2e']) {
      const err = await failure(client(creds).manifest(up.host, 'library/busybox', reference));
      expect(err.status).toBe(400);
      expect(err.message).toMatch(/is neither a tag nor a sha256 digest/);
    }
    const err = await failure(client(creds).manifest(up.host, 'library/../..', 'latest'));
    expect(err.message).toMatch(/is not a repository name/);
    expect(up.paths).toEqual([]);
  });
});
