import { z } from 'zod';
import type { ImageHolding } from '../../../registry-p2p/oci-protocol.js';
import type { Agent } from '../../agent.js';
import { ApiError, type Route } from '../control-api.js';

export interface NodeImages {
  peerId: string;
  name: string;
  /** Null when the node did not answer in time. */
  images: ImageHolding[] | null;
}

const prepullBody = z
  .object({ ref: z.string().min(1).max(512), labels: z.record(z.string(), z.string()).default({}) })
  .strict();

/** `meshctl image prepull|list`: ask matching nodes to fetch an image; see what each linked node holds. */
export function imageRoutes(agent: Agent): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/images',
      handler: async () => {
        const names = new Map(agent.state.state.nodes().map((n) => [n.peerId, n.name]));
        const held = await agent.registry.meshImages();
        const json: NodeImages[] = held.map(({ peer, images }) => ({
          peerId: peer,
          name: names.get(peer) ?? (peer === agent.peerId ? agent.config.name : peer),
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
          await agent.registry.prepull(parsed.data.ref, parsed.data.labels);
        } catch (err) {
          throw new ApiError(400, (err as Error).message);
        }
        return { json: { ok: true, ref: parsed.data.ref, labels: parsed.data.labels } };
      },
    },
  ];
}
