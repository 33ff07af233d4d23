import { expect, test } from 'vitest';
import type { JobView } from '../../../../src/crdt/job-log.js';
import { validateJobSpec } from '../../../../src/crdt/job-spec.js';
import type { AllocStatus, NodeRecord } from '../../../../src/crdt/records.js';
import { ApiError } from '../../../../src/node/api/control-api.js';
import { serviceRoutes } from '../../../../src/node/api/routes/service-routes.js';
import type { PeerLiveness } from '../../../../src/node/placement/placement-input.js';
import { agentCatalog } from '../../../../src/node/services/catalog-reader.js';

const result = validateJobSpec({
  name: 'web',
  driver: 'exec',
  command: '/bin/httpd',
  ports: [{ name: 'http', host: 8080 }],
  services: [{ name: 'web', port: 'http' }],
});
if (!result.ok) throw new Error('bad spec');
const current = {
  version: 1,
  specHash: 'h',
  spec: JSON.parse(JSON.stringify(result.spec)),
  submittedBy: 'o',
  submittedAt: 1,
};
const job: JobView = {
  name: 'web',
  desired: 'running',
  desiredSince: 1,
  desiredBy: 'o',
  current,
  history: [current],
};
const node = (peerId: string, ip: string): NodeRecord => ({
  peerId,
  name: peerId,
  labels: {},
  arch: 'x64',
  os: 'linux',
  cpu: 1,
  memory: 1,
  reserved: { cpu: 0, memory: 0 },
  drivers: ['exec'],
  agentVersion: '0',
  addresses: [`/ip4/${ip}/tcp/4001`],
});
const running = (allocId: string, peer: string): AllocStatus => ({
  allocId,
  job: 'web',
  jobVersion: 1,
  node: peer,
  state: 'running',
  health: 'unknown',
  startedAt: 1,
  restarts: 0,
});

function routes(heard: PeerLiveness[]) {
  const agent = {
    peerId: 'a',
    startedAt: Date.now(),
    config: { lostAfterMs: 60_000 },
    liveness: { list: () => heard },
    state: {
      state: {
        jobs: () => [job],
        nodes: () => [node('a', '10.0.0.1'), node('b', '10.0.0.2')],
        allocations: () => [running('web-a', 'a'), running('web-b', 'b')],
      },
    },
  };
  const [list, one] = serviceRoutes({ catalog: agentCatalog(agent) });
  const request = (name: string) =>
    ({ params: { name }, query: new URLSearchParams(), body: async () => ({}) }) as never;
  return { list: () => list!.handler(request('')), one: (name: string) => one!.handler(request(name)) };
}

const refusal = (call: () => unknown) => {
  try {
    call();
  } catch (err) {
    return err instanceof ApiError ? `${err.status} ${err.message}` : String(err);
  }
  return 'answered';
};

test('GET /v1/services lists each service with the instances on nodes not lost', () => {
  const { list, one } = routes([{ peerId: 'b', status: 'alive', lastSeen: Date.now() }]);
  expect(list()).toEqual({
    json: [
      {
        name: 'web',
        jobs: ['web'],
        instances: [
          expect.objectContaining({ allocId: 'web-a', address: '10.0.0.1', port: 8080 }),
          expect.objectContaining({ allocId: 'web-b', address: '10.0.0.2', port: 8080 }),
        ],
      },
    ],
  });
  expect(one('web')).toEqual({ json: (list() as { json: unknown[] }).json[0] });
  const lost = routes([{ peerId: 'b', status: 'lost', lastSeen: 1 }]);
  expect(
    (lost.one('web') as { json: { instances: { node: string }[] } }).json.instances.map((i) => i.node),
  ).toEqual(['a']);
});

test('GET /v1/services/:name refuses a name that is no DNS label and says when no job declares it', () => {
  const { one } = routes([]);
  expect(refusal(() => one('Web.x'))).toMatch(/^400 "Web.x" is not a service name/);
  expect(refusal(() => one('db'))).toBe('404 no running job declares service "db"');
});
