/**
 * A real upstream registry for tests and the benchmark: Debian's `docker-registry` (CNCF distribution) on a free
 * loopback port with temp storage, behind a TCP proxy that counts the bytes it serves and can be cut to play an
 * unreachable uplink. Images are pushed with a minimal OCI push client.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { sha256Digest } from '../../src/registry-p2p/digest.js';

export interface UpstreamRegistry {
  /** `127.0.0.1:PORT` of the counting proxy: what agents and Docker call the upstream. */
  readonly host: string;
  /** `127.0.0.1:PORT` of the registry itself, for pushing without counting. */
  readonly direct: string;
  /** Bytes the proxy sent to clients since the last reset. */
  bytesServed(): number;
  resetCount(): void;
  /** Refuses and cuts every connection through the proxy, as a lost uplink would. */
  cut(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startUpstreamRegistry(): Promise<UpstreamRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'mycel-upstream-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    `version: 0.1\nlog: { level: error, accesslog: { disabled: true } }\n` +
      `storage: { filesystem: { rootdirectory: ${dir}/data } }\nhttp: { addr: 127.0.0.1:${port} }\n`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  while (true) {
    const res = await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => undefined);
    if (res?.ok) break;
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(
        'docker-registry did not start: is Debian’s docker-registry installed (see MACHINE.md)?',
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  let served = 0;
  const sockets = new Set<Socket>();
  const proxy: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    upstream.on('data', (chunk: Buffer) => {
      served += chunk.length;
    });
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyPort = (proxy.address() as AddressInfo).port;
  const cut = async () => {
    if (!proxy.listening) return;
    const closed = new Promise((resolve) => proxy.close(resolve));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  return {
    host: `127.0.0.1:${proxyPort}`,
    direct: `127.0.0.1:${port}`,
    bytesServed: () => served,
    resetCount: () => {
      served = 0;
    },
    cut,
    stop: async () => {
      await cut();
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Blob {
  readonly digest: string;
  readonly bytes: Uint8Array;
}

export function blobOf(bytes: Uint8Array): Blob {
  return { digest: sha256Digest(bytes), bytes };
}

export interface PushedImage {
  readonly manifest: Blob;
  readonly config: Blob;
  readonly layers: readonly Blob[];
  /** Bytes of manifest, config and layers. */
  readonly size: number;
}

const MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';

/** Pushes config and layers (monolithic uploads), then the manifest under `tag`. */
export async function pushImage(
  registry: string,
  repository: string,
  tag: string,
  config: Uint8Array,
  layers: readonly Uint8Array[],
): Promise<PushedImage> {
  const base = `http://${registry}/v2/${repository}`;
  const configBlob = blobOf(config);
  const layerBlobs = layers.map(blobOf);
  for (const blob of [configBlob, ...layerBlobs]) {
    const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
    if (start.status !== 202) throw new Error(`upload start: ${start.status}`);
    const location = new URL(start.headers.get('location') ?? '', `http://${registry}`);
    location.searchParams.set('digest', blob.digest);
    const put = await fetch(location, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: blob.bytes,
    });
    if (put.status !== 201) throw new Error(`upload ${blob.digest}: ${put.status} ${await put.text()}`);
  }
  const descriptor = (b: Blob, mediaType: string) => ({ mediaType, size: b.bytes.length, digest: b.digest });
  const manifest = new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_V2,
      config: descriptor(configBlob, 'application/vnd.docker.container.image.v1+json'),
      layers: layerBlobs.map((b) => descriptor(b, 'application/vnd.docker.image.rootfs.diff.tar.gzip')),
    }),
  );
  const put = await fetch(`${base}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': MANIFEST_V2 },
    body: manifest,
  });
  if (put.status !== 201) throw new Error(`manifest: ${put.status} ${await put.text()}`);
  const manifestBlob = blobOf(manifest);
  const size = [manifestBlob, configBlob, ...layerBlobs].reduce((n, b) => n + b.bytes.length, 0);
  return { manifest: manifestBlob, config: configBlob, layers: layerBlobs, size };
}

/** An image config whose rootfs lists the uncompressed layers. */
export function imageConfig(uncompressedLayers: readonly Uint8Array[], cmd: string[] = ['sh']): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
      os: 'linux',
      config: { Cmd: cmd },
      rootfs: { type: 'layers', diff_ids: uncompressedLayers.map((l) => blobOf(l).digest) },
    }),
  );
}

/**
 * A runnable busybox image with a file of `marker` text at /marker, so every run pushes layer bytes Docker has
 * never seen and must really fetch. Returns the uncompressed tar and its gzip.
 */
export async function busyboxLayer(marker: string): Promise<{ tar: Uint8Array; gz: Uint8Array }> {
  const work = await mkdtemp(join(tmpdir(), 'mycel-layer-'));
  try {
    const root = join(work, 'root');
    await mkdir(join(root, 'bin'), { recursive: true });
    await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
    for (const applet of ['sh', 'cat', 'echo', 'sleep']) await symlink('busybox', join(root, 'bin', applet));
    await mkdir(join(root, 'tmp'));
    await writeFile(join(root, 'marker'), marker);
    const tarPath = join(work, 'layer.tar');
    execFileSync('tar', ['-C', root, '-cf', tarPath, '.']);
    const tar = await readFile(tarPath);
    return { tar, gz: gzipSync(tar, { level: 1 }) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
