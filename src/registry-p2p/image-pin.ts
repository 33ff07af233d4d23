import type { Digest } from './digest.js';
import type { ImagePuller, TagSource } from './image-puller.js';
import { parseImageRef } from './image-ref.js';

/** An image as `meshctl job run` submits it: the name the operator wrote, its tag, and the digest it resolved to. */
export interface PinnedImage {
  /** `repo:tag@sha256:…`, spelled as the job file wrote the name. */
  readonly image: string;
  readonly digest: Digest;
  /** False when the image named a digest already: kept as written, nothing asked. */
  readonly resolved: boolean;
  /** Who named the digest, when one was asked for; with why the registry itself did not. */
  readonly source?: TagSource;
  readonly upstreamError?: string;
}

/** A name that is no image reference: the operator's to fix, not the registry's. */
export class NotAnImage extends Error {
  override readonly name = 'NotAnImage';
}

/**
 * Pins `image` to the manifest its tag names now, through this agent's registry path (upstream, else the
 * store's last answer, else the peers). For a multi-arch image that is the index: each device then takes its
 * platform's manifest from that index, and the index's digest fixes every one of them.
 */
export async function pinImage(puller: Pick<ImagePuller, 'resolveTag'>, image: string): Promise<PinnedImage> {
  const ref = parseImageRef(image);
  if (!ref) throw new NotAnImage(`"${image}" is not an image reference`);
  if ('digest' in ref.reference) return { image, digest: ref.reference.digest, resolved: false };
  const { tag } = ref.reference;
  const manifest = await puller.resolveTag(ref.registry, ref.repository, tag);
  // `busybox` means `busybox:latest`: the pinned name says which tag the digest came from.
  const named = hasTag(image) ? image : `${image}:${tag}`;
  return {
    image: `${named}@${manifest.digest}`,
    digest: manifest.digest,
    resolved: true,
    source: manifest.source,
    ...(manifest.upstreamError === undefined ? {} : { upstreamError: manifest.upstreamError }),
  };
}

function hasTag(image: string): boolean {
  return image.lastIndexOf(':') > image.lastIndexOf('/');
}
