import { z } from 'zod';
import { StoreFull } from '../../../registry-p2p/content-store.js';
import { NotAnImage, type PinnedImage } from '../../../registry-p2p/image-pin.js';
import { UpstreamError } from '../../../registry-p2p/upstream-client.js';
import { ApiError, type Route } from '../control-api.js';

export interface ImagePinRoutesDeps {
  readonly registry: { resolveImage(image: string): Promise<PinnedImage> };
}

const resolveBody = z.object({ image: z.string().min(1).max(512) }).strict();

/**
 * Pins under way at once, at most: each may store a manifest of up to 4 MiB and wait on the upstream and every
 * peer, and a remote meshctl reaches this route too. An operator submits a few jobs at a time.
 */
export const MAX_PINS_AT_ONCE = 4;

/** `meshctl job run` pins each image to its digest here before it signs the spec. */
export function imagePinRoutes(deps: ImagePinRoutesDeps, maxAtOnce = MAX_PINS_AT_ONCE): Route[] {
  let underWay = 0;
  return [
    {
      method: 'POST',
      path: '/v1/images/resolve',
      handler: async (req) => {
        const parsed = resolveBody.safeParse(await req.body());
        if (!parsed.success)
          throw new ApiError(
            400,
            `resolve: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`,
          );
        const { image } = parsed.data;
        if (underWay >= maxAtOnce)
          throw new ApiError(429, `${maxAtOnce} images are being pinned already; try again in a moment`);
        underWay++;
        try {
          return { json: await deps.registry.resolveImage(image) };
        } catch (err) {
          throw new ApiError(statusOf(err), `cannot pin ${image} to a digest: ${(err as Error).message}`);
        } finally {
          underWay--;
        }
      },
    },
  ];
}

/** 404 for a tag upstream does not have, 400 for a bad name, 502 when no registry path answered. */
function statusOf(err: unknown): number {
  if (err instanceof NotAnImage) return 400;
  if (err instanceof UpstreamError && err.status === 404) return 404;
  if (err instanceof StoreFull) return 507;
  return 502;
}
