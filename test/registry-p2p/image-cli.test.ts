import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from '../support/agents.js';
import { bundle, exited, meshctl, spawnMeshd } from '../support/processes.js';
import { imageConfig, pushImage, startUpstreamRegistry, type UpstreamRegistry } from '../support/registry.js';

let upstream: UpstreamRegistry;

beforeAll(async () => {
  await bundle();
  upstream = await startUpstreamRegistry();
  const layers = [randomBytes(200_000)];
  await pushImage(upstream.direct, 'mycel/cli', 'v1', imageConfig(layers), layers);
}, 90_000);

afterAll(async () => {
  await upstream?.stop();
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

describe('meshctl image', () => {
  it('prepull fetches an image into the agent; list shows it; a bad reference is a clear error', async () => {
    const tmp = await tempDir();
    const port = await freePort();
    const agent = spawnMeshd([
      '--data-dir',
      join(tmp.path, 'data'),
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--api',
      `127.0.0.1:${port}`,
      '--registry-listen',
      '127.0.0.1:0',
      '--driver',
      'none',
      '--label',
      'zone=north',
    ]);
    const api = ['--api', `http://127.0.0.1:${port}`];
    try {
      await waitFor('the agent API', async () => (await meshctl([...api, 'status'])).code === 0, 30_000);
      const ref = `${upstream.host}/mycel/cli:v1`;
      const asked = await meshctl([...api, 'image', 'prepull', ref, '--label', 'zone=north']);
      expect(asked.code).toBe(0);
      expect(asked.stdout).toMatch(/pre-pull of .*mycel\/cli:v1 requested/);
      await waitFor(
        'the image listed as complete',
        async () => {
          const listed = await meshctl([...api, '-o', 'json', 'image', 'list']);
          const nodes = JSON.parse(listed.stdout) as { images: { ref: string; complete: boolean }[] }[];
          return nodes[0]?.images.some((i) => i.ref === ref && i.complete) ?? false;
        },
        30_000,
      );
      const table = await meshctl([...api, 'image', 'list']);
      expect(table.stdout).toMatch(/NODE\s+PEER ID\s+IMAGE\s+DIGEST\s+COMPLETE/);
      expect(table.stdout).toMatch(/mycel\/cli:v1\s+sha256:\S+\s+true/);

      const bad = await meshctl([...api, 'image', 'prepull', 'Not A Ref!']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/"Not A Ref!" is not an image reference/);
      const badLabel = await meshctl([...api, 'image', 'prepull', ref, '--label', 'novalue']);
      expect(badLabel.code).toBe(2);
      expect(badLabel.stderr).toMatch(/label "novalue" must be key=value/);
    } finally {
      agent.kill('SIGTERM');
      await exited(agent);
      await tmp.cleanup();
    }
  }, 90_000);
});
