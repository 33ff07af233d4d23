import { beforeAll, expect, test } from 'vitest';
import type { ApiClient } from '../../src/cli/api-client.js';
import { signedJobChange } from '../../src/cli/signing.js';
import type { JobEvent } from '../../src/crdt/job-log.js';
import { type TestKey, testKey } from '../support/keys.js';

/** meshctl signs only the change it asked for: an agent that plans another version's promotion gets nothing. */
let key: TestKey;
beforeAll(async () => {
  key = await testKey();
});

function agentPlanning(event: (by: string) => JobEvent): { client: ApiClient; posted: unknown[] } {
  const posted: unknown[] = [];
  const client = {
    get: async () => {
      throw new Error('not asked');
    },
    post: async (path: string, body: unknown) => {
      posted.push({ path, body });
      const by = (body as { by?: string }).by ?? '';
      return path.endsWith('/plan')
        ? { name: 'web', outcome: 'changed', event: event(by) }
        : { outcome: 'added' };
    },
  } as unknown as ApiClient;
  return { client, posted };
}

test('a promotion of the version meshctl read is signed and sent', async () => {
  const { client, posted } = agentPlanning((by) => ({ kind: 'promote', seq: 4, at: 1, by, version: 3 }));
  await signedJobChange(client, key, 'web', { kind: 'promote', version: 3 });
  expect(posted).toHaveLength(2);
  expect(posted[1]).toMatchObject({
    path: '/v1/jobs/web/events',
    body: { event: { kind: 'promote', version: 3, auth: { signer: key.id } } },
  });
});

test('an agent that plans the promotion of another version, or another kind, gets nothing signed', async () => {
  for (const planned of [
    (by: string): JobEvent => ({ kind: 'promote', seq: 4, at: 1, by, version: 2 }),
    (by: string): JobEvent => ({ kind: 'stop', seq: 4, at: 1, by }),
  ]) {
    const { client, posted } = agentPlanning(planned);
    await expect(signedJobChange(client, key, 'web', { kind: 'promote', version: 3 })).rejects.toThrow(
      /planned a different change/,
    );
    expect(posted).toHaveLength(1);
  }
});
