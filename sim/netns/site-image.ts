import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { hexOf, sha256Digest } from '../../src/registry-p2p/digest.js';

const run = promisify(execFile);
/** Nothing listens there: every agent's upstream registry is down, and only the mesh can bring the image. */
export const DOWN_UPSTREAM = '127.0.0.1:1';
const REPOSITORY = 'mycel/site2-only';

export interface SiteImage {
  manifestDigest: string;
  layerDigest: string;
  layerBytes: number;
}

/**
 * A one-layer image written straight into an agent's layer store before it starts (the store indexes what it
 * finds on disk), as if it had pulled it once while its upstream was up.
 */
export async function seedImage(dataDir: string, layerBytes: number): Promise<SiteImage> {
  const blobs = join(dataDir, 'registry', 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const layer = randomBytes(layerBytes);
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256Digest(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: sha256Digest(layer),
          size: layerBytes,
        },
      ],
    }),
  );
  for (const bytes of [layer, config, manifest])
    await writeFile(join(blobs, hexOf(sha256Digest(bytes))), bytes);
  return { manifestDigest: sha256Digest(manifest), layerDigest: sha256Digest(layer), layerBytes };
}

/** What a pull of the image's manifest and layer from an agent's loopback endpoint, in its namespace, got. */
export interface SitePull {
  ms: number;
  /** Layer bytes received, and whether they match the layer's digest. */
  bytes: number;
  verified: boolean;
}

/** Pulls the manifest (by digest, as a signed job pins it) and then the layer, like Docker, with curl in `ns`. */
export async function pullAtSite(
  ns: string,
  endpoint: string,
  image: SiteImage,
  scratch: string,
): Promise<SitePull> {
  const base = `http://${endpoint}/v2/${DOWN_UPSTREAM.replace(':', '_')}/${REPOSITORY}`;
  const out = join(scratch, 'pulled-layer');
  const curl = (url: string, file: string) =>
    run('ip', ['netns', 'exec', ns, 'curl', '-sSf', '--max-time', '120', '-o', file, url], {
      timeout: 130_000,
    });
  const t0 = performance.now();
  await curl(`${base}/manifests/${image.manifestDigest}`, join(scratch, 'pulled-manifest'));
  await curl(`${base}/blobs/${image.layerDigest}`, out);
  const ms = Math.round(performance.now() - t0);
  const bytes = await readFile(out);
  return { ms, bytes: bytes.length, verified: sha256Digest(bytes) === image.layerDigest };
}
