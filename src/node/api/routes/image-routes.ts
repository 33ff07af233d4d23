import { z } from 'zod';
import type { MeshState } from '../../../crdt/mesh-state.js';
import type { RegistryService } from '../../../registry-p2p/registry-service.js';
import { ApiError, type Route } from '../control-api.js';
import type { NodeImages } from '../types.js';
import { type ImagePinRoutesDeps, imagePinRoutes } from './image-pin-routes.js';

/** What the image routes use: node names, and the registry that asks the mesh. */
export interface ImageRoutesDeps extends ImagePinRoutesDeps {
  readonly peerId: string;
  readonly config: { readonly name: string };
  readonly state: { readonly state: Pick<MeshState, 'nodes'> };
  readonly registry: Pick<RegistryService, 'meshImages' | 'prepull' | 'resolveImage'>;
}

const prepullBody = z
  .object({ ref: z.string().min(1).max(512), labels: z.record(z.string(), z.string()).default({}) })
  .strict();

/** `meshctl image prepull|list`: ask matching nodes to fetch an image; see what each linked node holds. */
export function imageRoutes(deps: ImageRoutesDeps): Route[] {
  return [
    ...imagePinRoutes(deps),
    {
      method: 'GET',
      path: '/v1/images',
      handler: async () => {
        const names = new Map(deps.state.state.nodes().map((n) => [n.peerId, n.name]));
        const held = await deps.registry.meshImages();
        const json: NodeImages[] = held.map(({ peer, images }) => ({
          peerId: peer,
          name: names.get(peer) ?? (peer === deps.peerId ? deps.config.name : peer),
          images,
        }));
        return { json };
      },
    },
    {
      method: 'POST',
      path: '/v1/images/prepull',
      handler: async (req) => {
        const parsed = prepullBody.safeParse(await req.body());
        if (!parsed.success)
          throw new ApiError(
            400,
            `prepull: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`,
          );
        try {
          await deps.registry.prepull(parsed.data.ref, parsed.data.labels);
        } catch (err) {
          throw new ApiError(400, (err as Error).message);
        }
        return { json: { ok: true, ref: parsed.data.ref, labels: parsed.data.labels } };
      },
    },
  ];
}
