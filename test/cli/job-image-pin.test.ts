import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ApiClient, CliError } from '../../src/cli/api-client.js';
import { imageText, pinJobSource } from '../../src/cli/commands/job-image-pin.js';
import { parseJobFile } from '../../src/crdt/job-file.js';

const DIGEST = `sha256:${'cd'.repeat(32)}`;

/** An agent that pins every tag to DIGEST, recording what it was asked. */
function agent(answer?: (image: string) => never) {
  const asked: string[] = [];
  const client = {
    post: async (path: string, body: { image: string }) => {
      expect(path).toBe('/v1/images/resolve');
      asked.push(body.image);
      if (answer) answer(body.image);
      const tagged = body.image.lastIndexOf(':') > body.image.lastIndexOf('/');
      return { image: `${body.image}${tagged ? '' : ':latest'}@${DIGEST}`, digest: DIGEST };
    },
  } as unknown as ApiClient;
  return { client, asked };
}

afterEach(() => vi.restoreAllMocks());

describe('pinning a job file at submission', () => {
  it('writes the digest into a YAML file and keeps its comments', async () => {
    const { client, asked } = agent();
    const source =
      '# the web tier\nname: web\ndriver: docker\nimage: registry.local/web:1.2 # prod\ncount: 2\n';
    const pinned = await pinJobSource(client, source, 'web.yaml', true);
    expect(asked).toEqual(['registry.local/web:1.2']);
    expect(pinned).toContain('# the web tier');
    const parsed = parseJobFile(pinned, 'web.yaml');
    expect(parsed.ok && parsed.spec).toMatchObject({ image: `registry.local/web:1.2@${DIGEST}`, count: 2 });
  });

  it('keeps a JSON file JSON, and names the tag an untagged image meant', async () => {
    const { client } = agent();
    const source = JSON.stringify({ name: 'web', driver: 'docker', image: 'busybox' });
    const pinned = await pinJobSource(client, source, 'web.json', true);
    expect(JSON.parse(pinned)).toEqual({ name: 'web', driver: 'docker', image: `busybox:latest@${DIGEST}` });
  });

  it('keeps a digest already there and asks nothing; leaves exec jobs and bad files alone', async () => {
    const { client, asked } = agent();
    const pinnedAlready = `name: web\ndriver: docker\nimage: web:1@${DIGEST}\n`;
    expect(await pinJobSource(client, pinnedAlready, 'web.yaml', true)).toBe(pinnedAlready);
    const exec = 'name: job\ndriver: exec\ncommand: /bin/true\n';
    expect(await pinJobSource(client, exec, 'job.yaml', true)).toBe(exec);
    const bad = 'name: web\ndriver: docker\nimage: [\n';
    expect(await pinJobSource(client, bad, 'web.yaml', true)).toBe(bad);
    expect(asked).toEqual([]);
  });

  it('submits the tag with a warning under --no-pin', async () => {
    const { client, asked } = agent();
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const source = 'name: web\ndriver: docker\nimage: web:1\n';
    expect(await pinJobSource(client, source, 'web.yaml', false)).toBe(source);
    expect(asked).toEqual([]);
    expect(String(stderr.mock.calls[0]?.[0])).toMatch(/^warning: web:1 is submitted by tag \(--no-pin\)/);
  });

  it('fails naming the image and the cause when the agent cannot pin it', async () => {
    const { client } = agent(() => {
      throw new CliError('cannot pin web:9 to a digest: manifest unknown (docker.io/library/web:9)');
    });
    const err = await pinJobSource(
      client,
      'name: web\ndriver: docker\nimage: web:9\n',
      'web.yaml',
      true,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as Error).message).toBe(
      'cannot pin web:9 to a digest: manifest unknown (docker.io/library/web:9); fix the image or its registry, or pass --no-pin to submit the tag unpinned',
    );
  });
});

describe('the image line of job status', () => {
  it('shows tag and short digest for a pinned image, the name for a tag', () => {
    expect(imageText({ image: `web:1@${DIGEST}` })).toBe(`web:1 (sha256:${'cd'.repeat(6)}…)`);
    expect(imageText({ image: 'web:1' })).toBe('web:1');
    expect(imageText({ command: '/bin/true' })).toBeUndefined();
  });
});
