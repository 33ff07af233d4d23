import type { Stream } from '@libp2p/interface';
import type { Logger } from 'pino';
import { parseJson } from '../../lib/json-text.js';
import { FramedStream } from '../../lib/p2p/framed-stream.js';
import type { MeshHost } from '../net/libp2p-host.js';
import { ApiError, type ControlApi, type Route } from './control-api.js';

/**
 * The control API over libp2p, for a remote `meshctl` (an operator's laptop holding the mesh key): one
 * length-prefixed JSON request `{ method, path, body }` per stream, one JSON answer `{ status, json | error }`.
 * Served only in a closed mesh, where reaching this agent already took the mesh key; and only reads plus the
 * operator-signed writes, so a member device with the mesh key but no operator key can do nothing over it that
 * replication does not already give it.
 */
export const CONTROL_PROTOCOL = '/mycel/control/1.0.0';
export const MAX_FRAME_BYTES = 1024 * 1024;
const TIMEOUT_MS = 30_000;

export interface ControlRequest {
  method: Route['method'];
  path: string;
  body?: unknown;
}

export type ControlAnswer = { status: number; json: unknown } | { status: number; error: string };

/**
 * Operator-signed writes, `job plan`, a POST that stores nothing, and the image pin `job run` asks for before it
 * signs (it stores at most one manifest, of 4 MiB at most, over the protocol's few streams at once).
 */
const SIGNED_WRITES = [
  /^\/v1\/images\/resolve$/,
  /^\/v1\/trust$/,
  /^\/v1\/jobs\/[^/]+\/plan$/,
  /^\/v1\/jobs\/[^/]+\/events$/,
  /^\/v1\/job-plans$/,
];

export function remotelyAllowed(method: string, path: string): boolean {
  const pathname = path.split('?')[0] ?? '';
  // Logs without a follow end when the history does, so they fit one answer; a follow would hold a stream.
  if (method === 'GET')
    return (
      !/\/logs\/?$/.test(pathname) ||
      !new URLSearchParams(path.slice(pathname.length)).getAll('follow').includes('true')
    );
  return method === 'POST' && SIGNED_WRITES.some((re) => re.test(pathname));
}

/**
 * The path a remote request may run, normalised, or undefined when it is not served remotely. The allow-list is
 * checked on the same path that is then called: a URL parser reads `\` as `/`, resolves `..` and cuts at `#`,
 * so checking the raw path would let one route pass for another.
 */
export function remoteRequestPath(method: string, rawPath: string): string | undefined {
  if (!rawPath.startsWith('/') || rawPath.startsWith('//') || rawPath.includes('\\')) return undefined;
  let url: URL;
  try {
    url = new URL(rawPath, 'http://api');
  } catch {
    return undefined;
  }
  const path = url.pathname + url.search;
  // Only paths that need no normalisation at all: what is checked is byte for byte what runs.
  return path === rawPath && remotelyAllowed(method, path) ? path : undefined;
}

export async function serveControlProtocol(host: MeshHost, api: ControlApi, log: Logger): Promise<void> {
  await host.handle(CONTROL_PROTOCOL, (stream) => void serve(stream, api, log), {
    maxInboundStreams: 4,
    maxOutboundStreams: 0,
    // A remote meshctl reaches a device behind NAT through a relay (README "Devices behind NAT").
    runOnLimitedConnection: true,
  });
}

async function serve(stream: Stream, api: ControlApi, log: Logger): Promise<void> {
  const signal = AbortSignal.timeout(TIMEOUT_MS);
  const framed = new FramedStream(stream, {
    maxFrameBytes: MAX_FRAME_BYTES,
    idleTimeoutMs: TIMEOUT_MS,
    signal,
  });
  try {
    const request = await framed.read();
    if (!request) throw new Error('the stream closed before a request');
    const answer = await answerFor(request, api, signal);
    await framed.write(new TextEncoder().encode(JSON.stringify(answer)));
    await framed.close();
  } catch (err) {
    log.debug({ err }, 'control protocol: request failed');
    framed.abort(err as Error);
  }
}

async function answerFor(frame: Uint8Array, api: ControlApi, signal: AbortSignal): Promise<ControlAnswer> {
  let request: ControlRequest;
  try {
    request = parseJson(new TextDecoder('utf-8', { fatal: true }).decode(frame)) as ControlRequest;
    if (typeof request?.method !== 'string' || typeof request.path !== 'string') throw new Error('shape');
  } catch {
    return { status: 400, error: 'expected { "method", "path", "body"? } as JSON' };
  }
  const path = remoteRequestPath(request.method, request.path);
  if (path === undefined) {
    return { status: 403, error: `${request.method} ${request.path} is not served to remote meshctl` };
  }
  try {
    const response = await api.call(request.method, path, request.body, signal);
    if ('json' in response) return { status: response.status ?? 200, json: response.json };
    if ('text' in response) return { status: response.status ?? 200, json: response.text };
    return { status: 200, json: await collected(response.stream) };
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, error: err.message };
    return { status: 500, error: (err as Error).message };
  }
}

/** Raw text kept of a log answered in one frame: JSON escapes can grow it, and the frame holds 1 MiB. */
const MAX_COLLECTED_CHARS = 256 * 1024;

/**
 * A log stream that ends (no follow) as one NDJSON text. Bounded: past MAX_COLLECTED_CHARS the oldest lines
 * go first, and a first line says so, so a remote `alloc logs` shows the newest part as `--tail` would.
 */
async function collected(stream: AsyncIterable<string>): Promise<string> {
  const kept: string[] = [];
  let chars = 0;
  let dropped = 0;
  for await (const chunk of stream) {
    if (chunk.trim() === '') continue;
    kept.push(chunk);
    chars += chunk.length;
    while (chars > MAX_COLLECTED_CHARS && kept.length > 1) {
      chars -= kept.shift()!.length;
      dropped++;
    }
  }
  if (dropped === 0) return kept.join('');
  const note = `${dropped} earlier lines not sent to remote meshctl (at most 256 KiB a request): use --tail`;
  return `${JSON.stringify({ stream: 'stderr', line: note })}\n${kept.join('')}`;
}
