import { expect, test } from 'vitest';
import { ApiError } from '../../../../src/node/api/control-api.js';
import { imagePinRoutes } from '../../../../src/node/api/routes/image-pin-routes.js';
import type { PinnedImage } from '../../../../src/registry-p2p/image-pin.js';

const request = (body: unknown) =>
  ({
    params: {},
    query: new URLSearchParams(),
    body: async () => body,
    signal: new AbortController().signal,
  }) as never;

test('pins under way at once are bounded: one more is refused with 429 until one ends', async () => {
  const waiting: ((pin: PinnedImage) => void)[] = [];
  const registry = {
    resolveImage: (image: string) =>
      new Promise<PinnedImage>((resolve) => {
        waiting.push(() =>
          resolve({
            image: `${image}@sha256:${'0'.repeat(64)}`,
            digest: `sha256:${'0'.repeat(64)}` as never,
            resolved: true,
          }),
        );
      }),
  };
  const [route] = imagePinRoutes({ registry }, 2);
  const first = route!.handler(request({ image: 'a:1' }));
  const second = route!.handler(request({ image: 'b:1' }));
  await expect(Promise.resolve(route!.handler(request({ image: 'c:1' })))).rejects.toMatchObject({
    status: 429,
  });
  await new Promise((r) => setTimeout(r, 0));
  waiting.shift()!({} as never);
  await first;
  const third = route!.handler(request({ image: 'c:1' }));
  await new Promise((r) => setTimeout(r, 0)); // the handler reads its body before it asks the registry
  expect(waiting).toHaveLength(2);
  for (const done of waiting.splice(0)) done({} as never);
  await expect(second).resolves.toBeDefined();
  await expect(third).resolves.toMatchObject({ json: { image: `c:1@sha256:${'0'.repeat(64)}` } });
});

test('a body that is not { image } is a 400 that names the field', async () => {
  const [route] = imagePinRoutes({ registry: { resolveImage: async () => ({}) as never } });
  const refused = await Promise.resolve(route!.handler(request({ image: '', extra: 1 }))).catch(
    (e: unknown) => e,
  );
  expect(refused).toBeInstanceOf(ApiError);
  expect((refused as ApiError).status).toBe(400);
  expect((refused as ApiError).message).toMatch(/^resolve: /);
});
