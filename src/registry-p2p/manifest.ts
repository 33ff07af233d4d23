import { z } from 'zod';
import { parseJson } from '../lib/json-text.js';
import { type Digest, parseDigest } from './digest.js';

export interface Descriptor {
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: string;
  /** Set on the entries of an index: which platform the child manifest is for. */
  readonly platform?: { readonly os: string; readonly architecture: string };
}

const descriptor = z.object({
  digest: z.string(),
  size: z.number().int().min(0),
  mediaType: z.string().optional(),
  platform: z.object({ os: z.string(), architecture: z.string() }).passthrough().optional(),
});
const manifestSchema = z.object({
  mediaType: z.string().optional(),
  manifests: z.array(descriptor).max(1024).optional(),
  config: descriptor.optional(),
  layers: z.array(descriptor).max(1024).optional(),
});

export type ParsedManifest =
  | { readonly kind: 'index'; readonly manifests: readonly Descriptor[] }
  | { readonly kind: 'image'; readonly blobs: readonly Descriptor[] };

/** An image manifest's config and layers, or an index's child manifests; undefined for anything malformed. */
export function parseManifest(bytes: Uint8Array): ParsedManifest | undefined {
  let json: unknown;
  try {
    json = parseJson(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const toDescriptor = (d: z.output<typeof descriptor>): Descriptor | undefined => {
    const digest = parseDigest(d.digest);
    if (!digest) return undefined;
    return {
      digest,
      size: d.size,
      mediaType: d.mediaType ?? '',
      ...(d.platform ? { platform: { os: d.platform.os, architecture: d.platform.architecture } } : {}),
    };
  };
  const all = (list: z.output<typeof descriptor>[]) => {
    const out = list.map(toDescriptor);
    return out.every((d) => d !== undefined) ? (out as Descriptor[]) : undefined;
  };
  if (parsed.data.manifests) {
    const manifests = all(parsed.data.manifests);
    return manifests ? { kind: 'index', manifests } : undefined;
  }
  if (!parsed.data.config) return undefined;
  const blobs = all([parsed.data.config, ...(parsed.data.layers ?? [])]);
  return blobs ? { kind: 'image', blobs } : undefined;
}

/** The media type a manifest declares about itself, for peers that did not say. */
export function declaredMediaType(bytes: Uint8Array): string | undefined {
  try {
    const value = (parseJson(new TextDecoder().decode(bytes)) as { mediaType?: unknown }).mediaType;
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };

/** The index entry for this device, as Docker would choose it. */
export function pickPlatform(manifests: readonly Descriptor[], arch = process.arch): Descriptor | undefined {
  const want = ARCH[arch] ?? arch;
  return manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === want);
}
