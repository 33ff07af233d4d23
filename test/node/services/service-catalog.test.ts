import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { JobView } from '../../../src/crdt/job-log.js';
import { validateJobSpec } from '../../../src/crdt/job-spec.js';
import type { AllocStatus, NodeRecord } from '../../../src/crdt/records.js';
import type { PeerLiveness } from '../../../src/node/placement/placement-input.js';
import {
  type CatalogInput,
  reachableAddress,
  serviceCatalog,
} from '../../../src/node/services/service-catalog.js';

function jobView(
  input: Record<string, unknown>,
  version = 1,
  desired: 'running' | 'stopped' = 'running',
): JobView {
  const result = validateJobSpec(input);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  const current = {
    version,
    specHash: `${String(input.name)}-${version}`,
    spec: JSON.parse(JSON.stringify(result.spec)),
    submittedBy: 'op',
    submittedAt: 1,
  };
  return { name: String(input.name), desired, desiredSince: 1, desiredBy: 'op', current, history: [current] };
}

const web = (extra: Record<string, unknown> = {}) => ({
  name: 'web',
  driver: 'exec',
  command: '/bin/httpd',
  count: 3,
  ports: [{ name: 'http', host: 8080 }],
  services: [{ name: 'web', port: 'http', tags: ['v1'] }],
  health: { type: 'http', path: '/', port: 8080 },
  ...extra,
});

const node = (peerId: string, addresses: string[]): NodeRecord => ({
  peerId,
  name: `n-${peerId}`,
  labels: {},
  arch: 'x64',
  os: 'linux',
  cpu: 1000,
  memory: 1000,
  reserved: { cpu: 0, memory: 0 },
  drivers: ['exec'],
  agentVersion: '0',
  addresses,
});

const status = (allocId: string, nodeId: string, extra: Partial<AllocStatus> = {}): AllocStatus => ({
  allocId,
  job: 'web',
  jobVersion: 1,
  node: nodeId,
  state: 'running',
  health: 'healthy',
  startedAt: 1,
  restarts: 0,
  ...extra,
});

const alive = (peerId: string): PeerLiveness => ({ peerId, status: 'alive', lastSeen: 1 });

const NODES = [
  node('a', ['/ip4/127.0.0.1/tcp/4001', '/ip4/10.0.0.1/tcp/4001']),
  node('b', ['/ip4/10.0.0.2/tcp/4001']),
  node('c', ['/ip4/10.0.0.3/tcp/4001']),
];

const input = (extra: Partial<CatalogInput> = {}): CatalogInput => ({
  jobs: [jobView(web())],
  nodes: NODES,
  allocations: [status('web-a', 'a'), status('web-b', 'b')],
  liveness: [alive('b'), alive('c')],
  self: 'a',
  ...extra,
});

describe('serviceCatalog', () => {
  test('lists running healthy copies with their node address, host port and tags', () => {
    expect(serviceCatalog(input())).toEqual([
      {
        name: 'web',
        jobs: ['web'],
        instances: [
          expect.objectContaining({
            allocId: 'web-a',
            node: 'a',
            nodeName: 'n-a',
            address: '10.0.0.1',
            port: 8080,
          }),
          expect.objectContaining({
            allocId: 'web-b',
            address: '10.0.0.2',
            protocol: 'tcp',
            health: 'healthy',
            tags: ['v1'],
          }),
        ],
      },
    ]);
  });

  test('leaves out copies that do not run, fail their check, run a version the replica does not hold, or sit on a lost node', () => {
    const allocations = [
      status('web-a', 'a', { health: 'unhealthy' }),
      status('web-b', 'b', { state: 'starting', health: 'unknown' }),
      status('web-c', 'c', { health: 'unknown' }),
      status('web-d', 'b', { jobVersion: 2 }),
      status('web-e', 'c', { state: 'failed' }),
    ];
    expect(serviceCatalog(input({ allocations }))[0]?.instances).toEqual([]);
    const lost = input({ liveness: [alive('c'), { peerId: 'b', status: 'lost', lastSeen: 1 }] });
    expect(serviceCatalog(lost)[0]?.instances.map((i) => i.node)).toEqual(['a']);
    // Absent from the view counts lost too; a suspect node keeps its instances until it is lost.
    expect(serviceCatalog(input({ liveness: [] }))[0]?.instances.map((i) => i.node)).toEqual(['a']);
    const suspect = input({ liveness: [{ peerId: 'b', status: 'suspect', lastSeen: 1 }] });
    expect(serviceCatalog(suspect)[0]?.instances.map((i) => i.node)).toEqual(['a', 'b']);
  });

  test("a copy of an older version serves until replaced: with its own version's port, under the current names", () => {
    const v1 = jobView(web({ ports: [{ name: 'http', host: 8000 }], health: undefined }), 1).current;
    const v2 = jobView(web({ services: [{ name: 'web', port: 'http', tags: ['v2'] }] }), 2);
    const jobs = [{ ...v2, history: [v2.current, v1] }];
    const allocations = [
      status('web-old', 'a', { health: 'unknown' }),
      status('web-new', 'b', { jobVersion: 2 }),
      status('web-gone', 'c', { health: 'unknown', state: 'complete' }),
    ];
    expect(serviceCatalog(input({ jobs, allocations }))[0]?.instances).toEqual([
      expect.objectContaining({
        allocId: 'web-new',
        jobVersion: 2,
        port: 8080,
        health: 'healthy',
        tags: ['v2'],
      }),
      expect.objectContaining({
        allocId: 'web-old',
        jobVersion: 1,
        port: 8000,
        health: 'unknown',
        tags: ['v1'],
      }),
    ]);
    // A name only the older version declared is gone with the update.
    const renamed = jobView(web({ services: [{ name: 'api', port: 'http' }] }), 2);
    const names = serviceCatalog(
      input({ jobs: [{ ...renamed, history: [renamed.current, v1] }], allocations }),
    );
    expect(names.map((s) => [s.name, s.instances.map((i) => i.allocId)])).toEqual([['api', ['web-new']]]);
  });

  test('a job without a health check counts running copies with health unknown', () => {
    const jobs = [jobView(web({ health: undefined }))];
    const allocations = [
      status('web-a', 'a', { health: 'unknown' }),
      status('web-b', 'b', { state: 'pending' }),
    ];
    expect(serviceCatalog(input({ jobs, allocations }))[0]?.instances).toEqual([
      expect.objectContaining({ allocId: 'web-a', health: 'unknown' }),
    ]);
  });

  test('a stopped job or one without services declares nothing; a service with no instances is still listed', () => {
    expect(serviceCatalog(input({ jobs: [jobView(web(), 1, 'stopped')] }))).toEqual([]);
    expect(serviceCatalog(input({ jobs: [jobView(web({ services: undefined }))] }))).toEqual([]);
    expect(serviceCatalog(input({ allocations: [] }))).toEqual([
      { name: 'web', jobs: ['web'], instances: [] },
    ]);
  });

  test('a node whose record lists no IP address serves no instance', () => {
    const nodes = [node('a', ['/dns4/a.example/tcp/1', '/ip4/999.1.1.1/tcp/1']), ...NODES.slice(1)];
    expect(serviceCatalog(input({ nodes }))[0]?.instances.map((i) => i.node)).toEqual(['b']);
  });
});

describe('reachableAddress', () => {
  test('prefers a routable IPv4 address, then IPv6, loopback only when that is all there is', () => {
    expect(
      reachableAddress(['/ip4/127.0.0.1/tcp/1', '/ip6/2001:db8::1/tcp/1', '/ip4/192.168.1.5/tcp/1']),
    ).toBe('192.168.1.5');
    expect(reachableAddress(['/ip4/127.0.0.1/tcp/1', '/ip6/fe80::1/tcp/1', '/ip6/2001:db8::1/tcp/1'])).toBe(
      '2001:db8::1',
    );
    expect(reachableAddress(['/ip6/::1/tcp/1', '/ip4/127.0.0.1/tcp/1'])).toBe('127.0.0.1');
    expect(reachableAddress(['/ip4/169.254.1.1/tcp/1', '/ip6/::1/tcp/1'])).toBe('::1');
    expect(reachableAddress([])).toBeUndefined();
  });
});

describe('serviceCatalog property', () => {
  const peers = ['a', 'b', 'c', 'd'];
  const statusArb = fc.record({
    slot: fc.integer({ min: 0, max: 5 }),
    node: fc.constantFrom(...peers),
    state: fc.constantFrom('pending', 'starting', 'running', 'failed', 'complete', 'lost'),
    health: fc.constantFrom('unknown', 'healthy', 'unhealthy'),
    jobVersion: fc.integer({ min: 1, max: 2 }),
  });
  const livenessArb = fc.array(
    fc.record({
      peerId: fc.constantFrom(...peers),
      status: fc.constantFrom('alive', 'suspect', 'lost'),
      lastSeen: fc.nat(),
    }),
    { maxLength: 8 },
  );

  test('only running, healthy copies of the current version on nodes not lost appear, each once, in any order', () => {
    fc.assert(
      fc.property(
        fc.array(statusArb, { maxLength: 20 }),
        livenessArb,
        fc.boolean(),
        fc.integer(),
        (raw, liveness, checked, seed) => {
          const allocations = raw.map((s) =>
            status(`web-${s.slot}`, s.node, { state: s.state, health: s.health, jobVersion: s.jobVersion }),
          ) as AllocStatus[];
          const jobs = [jobView(checked ? web() : web({ health: undefined }), 2)];
          const base = { jobs, nodes: peers.map((p) => node(p, [`/ip4/10.0.0.${p.charCodeAt(0)}/tcp/1`])) };
          const catalog = serviceCatalog({ ...base, allocations, liveness, self: 'a' });
          const instances = catalog[0]?.instances ?? [];
          const ids = instances.map((i) => i.allocId);
          expect(new Set(ids).size).toBe(ids.length);
          const notLost = (p: string) =>
            p === 'a' || liveness.some((l) => l.peerId === p && l.status !== 'lost');
          const qualifies = (s: AllocStatus) =>
            s.state === 'running' &&
            s.jobVersion === 2 &&
            (s.health === 'healthy' || (!checked && s.health === 'unknown')) &&
            notLost(s.node);
          for (const instance of instances) {
            const own = allocations.filter((s) => s.allocId === instance.allocId && s.node === instance.node);
            expect(own.some(qualifies)).toBe(true);
          }
          // Every qualifying copy whose id no other status claims appears.
          for (const s of allocations) {
            const alone = allocations.filter((o) => o.allocId === s.allocId).length === 1;
            if (alone && qualifies(s)) expect(ids).toContain(s.allocId);
          }
          // Order of arrival does not matter.
          const shuffled = fc.sample(fc.shuffledSubarray(allocations, { minLength: allocations.length }), {
            seed,
            numRuns: 1,
          })[0]!;
          expect(
            serviceCatalog({ ...base, allocations: shuffled, liveness: [...liveness].reverse(), self: 'a' }),
          ).toEqual(catalog);
        },
      ),
      { numRuns: 300 },
    );
  });
});
