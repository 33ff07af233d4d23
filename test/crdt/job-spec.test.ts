import { describe, expect, it } from 'vitest';
import { type JobSpecIssue, jobSpecToInput, LIMITS, validateJobSpec } from '../../src/crdt/job-spec.js';
import { specOf } from '../support/job-spec-checks.js';

const docker = { name: 'web', driver: 'docker', image: 'local/busybox:1' } as const;
const exec = { name: 'worker', driver: 'exec', command: '/bin/sh' } as const;

function issuesOf(input: unknown): JobSpecIssue[] {
  const result = validateJobSpec(input);
  if (result.ok) throw new Error('expected the spec to be rejected');
  return result.issues;
}

function expectIssue(input: unknown, path: (string | number)[], message: string | RegExp) {
  const issues = issuesOf(input);
  const match = issues.find((issue) => JSON.stringify(issue.path) === JSON.stringify(path));
  expect(match, JSON.stringify(issues)).toBeDefined();
  expect(match?.message).toMatch(message);
}

describe('defaults (after Nomad)', () => {
  it('fills in every default of a minimal service', () => {
    expect(specOf(docker)).toEqual({
      name: 'web',
      type: 'service',
      count: 1,
      driver: 'docker',
      image: 'local/busybox:1',
      args: [],
      env: {},
      network: 'host',
      ports: [],
      resources: { cpu: 100, memory: 300 },
      constraints: [],
      affinities: [],
      scheduling: { algorithm: 'binpack' },
      restart: { attempts: 2, interval: 1_800_000, delay: 15_000, mode: 'fail' },
      update: {
        maxParallel: 1,
        canary: 0,
        minHealthyTime: 10_000,
        healthyDeadline: 300_000,
        autoRevert: false,
      },
      disconnect: { lostAfter: 0, replace: true, reconcile: 'best_score' },
    });
  });

  it('gives batch jobs their own restart defaults and merges a partial restart block', () => {
    expect(specOf({ ...exec, type: 'batch' }).restart).toEqual({
      attempts: 3,
      interval: 86_400_000,
      delay: 15_000,
      mode: 'fail',
    });
    expect(specOf({ ...exec, type: 'batch', restart: { attempts: 1, mode: 'delay' } }).restart).toEqual({
      attempts: 1,
      interval: 86_400_000,
      delay: 15_000,
      mode: 'delay',
    });
  });

  it('fills health timings and a port container port from the host port', () => {
    const spec = specOf({
      ...docker,
      health: { type: 'tcp', port: 80 },
      ports: [{ name: 'http', host: 80 }],
    });
    expect(spec.health).toEqual({ type: 'tcp', port: 80, interval: 10_000, timeout: 2_000 });
    expect(spec.ports).toEqual([{ name: 'http', host: 80, container: 80, protocol: 'tcp' }]);
  });

  it('adds no undefined members (Automerge refuses them)', () => {
    const spec = specOf(exec);
    expect(Object.entries(spec).filter(([, value]) => value === undefined)).toEqual([]);
    expect('image' in spec).toBe(false);
    expect('health' in spec).toBe(false);
  });

  it('is a fixed point: the user form of a normalised spec parses back to it', () => {
    const spec = specOf({
      ...docker,
      command: 'httpd',
      health: { type: 'http', path: '/', port: 8080, interval: '90s' },
      restart: { delay: '1500ms' },
      disconnect: { lostAfter: '1h30m' },
    });
    expect(specOf(jobSpecToInput(spec))).toEqual(spec);
  });
});

describe('driver rules', () => {
  it('docker needs an image', () => {
    expectIssue({ name: 'web', driver: 'docker' }, ['image'], 'the docker driver needs an image');
  });
  it('exec needs a command and takes no image', () => {
    expectIssue({ name: 'w', driver: 'exec' }, ['command'], 'the exec driver needs a command');
    expectIssue({ ...exec, image: 'x' }, ['image'], 'the exec driver runs a host command and takes no image');
  });
  it('exec runs on the host network', () => {
    expectIssue({ ...exec, network: 'bridge' }, ['network'], /use network host/);
  });
  it('names the allowed drivers', () => {
    expectIssue({ ...docker, driver: 'podman' }, ['driver'], 'must be one of: docker, exec');
  });
});

describe('health rules', () => {
  it('http needs path and port', () => {
    expectIssue(
      { ...docker, health: { type: 'http', port: 80 } },
      ['health', 'path'],
      'missing required field',
    );
    expectIssue(
      { ...docker, health: { type: 'http', path: '/' } },
      ['health', 'port'],
      'missing required field',
    );
    expectIssue(
      { ...docker, health: { type: 'http', path: 'x', port: 80 } },
      ['health', 'path'],
      'must start with "/"',
    );
  });
  it('tcp needs a port and has no path', () => {
    expectIssue({ ...docker, health: { type: 'tcp' } }, ['health', 'port'], 'missing required field');
    expectIssue(
      { ...docker, health: { type: 'tcp', port: 1, path: '/' } },
      ['health', 'path'],
      'unknown field "path"',
    );
  });
  it('exec needs a non-empty command', () => {
    expectIssue({ ...docker, health: { type: 'exec' } }, ['health', 'command'], 'missing required field');
    expectIssue(
      { ...docker, health: { type: 'exec', command: [] } },
      ['health', 'command'],
      'must not be empty',
    );
  });
  it('names the check types', () => {
    expectIssue(
      { ...docker, health: { type: 'grpc' } },
      ['health', 'type'],
      'must be one of: http, tcp, exec',
    );
  });
});

describe('update and restart rules', () => {
  it('canary <= count', () => {
    expectIssue({ ...docker, count: 2, update: { canary: 3 } }, ['update', 'canary'], 'must be <= count (2)');
    expect(specOf({ ...docker, count: 3, update: { canary: 3 } }).update.canary).toBe(3);
  });
  it('maxParallel >= 1', () => {
    expectIssue({ ...docker, update: { maxParallel: 0 } }, ['update', 'maxParallel'], 'must be >= 1');
  });
  it('healthyDeadline longer than minHealthyTime', () => {
    expectIssue(
      { ...docker, update: { minHealthyTime: '5m', healthyDeadline: '5m' } },
      ['update', 'healthyDeadline'],
      'must be longer than minHealthyTime',
    );
  });
  it('restarts must fit in their interval', () => {
    expectIssue(
      { ...exec, restart: { attempts: 10, delay: '1m', interval: '5m' } },
      ['restart', 'interval'],
      '10 restarts 1m apart do not fit in 5m',
    );
  });
  it('durations are strings with units', () => {
    expectIssue(
      { ...docker, update: { minHealthyTime: 30 } },
      ['update', 'minHealthyTime'],
      /must be a duration/,
    );
    expectIssue({ ...docker, update: { minHealthyTime: '30' } }, ['update', 'minHealthyTime'], /has no unit/);
    expectIssue(
      { ...docker, health: { type: 'tcp', port: 1, interval: '10ms' } },
      ['health', 'interval'],
      'must be at least 1s',
    );
    expectIssue(
      { ...docker, disconnect: { lostAfter: '9000h' } },
      ['disconnect', 'lostAfter'],
      'must be at most 8760h',
    );
  });
});

describe('ports', () => {
  it('rejects duplicate names and duplicate host ports per protocol', () => {
    const ports = [
      { name: 'http', host: 80 },
      { name: 'http', host: 81 },
      { name: 'alt', host: 80 },
    ];
    expectIssue({ ...docker, ports }, ['ports', 1, 'name'], 'duplicate port name "http"');
    expectIssue(
      { ...docker, ports },
      ['ports', 2, 'host'],
      'host port 80/tcp is already used by another port',
    );
  });
  it('lets tcp and udp share a host port', () => {
    const ports = [
      { name: 'dns', host: 53 },
      { name: 'dns-udp', host: 53, protocol: 'udp' },
    ];
    expect(specOf({ ...docker, ports }).ports).toHaveLength(2);
  });
  it('maps container ports only on a bridge network', () => {
    const ports = [{ name: 'http', host: 8080, container: 80 }];
    expectIssue({ ...docker, ports }, ['ports', 0, 'container'], /omit container/);
    expect(specOf({ ...docker, network: 'bridge', ports }).ports[0]?.container).toBe(80);
  });
  it('checks port numbers', () => {
    expectIssue(
      { ...docker, ports: [{ name: 'x', host: 70_000 }] },
      ['ports', 0, 'host'],
      'must be <= 65535',
    );
  });
});

describe('constraints and affinities', () => {
  it('in and not_in need a list, = and != a single value', () => {
    expectIssue(
      { ...docker, constraints: [{ attribute: 'arch', operator: 'in', value: 'arm64' }] },
      ['constraints', 0, 'value'],
      /operators in and not_in need a list/,
    );
    expectIssue(
      {
        ...docker,
        constraints: [
          { attribute: 'os', operator: '=', value: 'x' },
          { attribute: 'arch', operator: '!=', value: ['a'] },
        ],
      },
      ['constraints', 1, 'value'],
      /operators = and != need a single value/,
    );
  });
  it('accepts the attributes arch, os, name, driver, label.<key> and device./dev/<name>, nothing else', () => {
    for (const attribute of [
      'arch',
      'os',
      'name',
      'driver',
      'label.zone',
      'label.example.com/tier',
      'device./dev/ttyUSB0',
      'device./dev/dri/renderD128',
    ]) {
      expect(
        specOf({ ...docker, constraints: [{ attribute, operator: '=', value: 'x' }] }).constraints,
      ).toHaveLength(1);
    }
    for (const attribute of [
      'zone',
      'label.',
      'labels.zone',
      'archx',
      'label.-x',
      'device.',
      'device./sys/x',
    ]) {
      expectIssue(
        { ...docker, constraints: [{ attribute, operator: '=', value: 'x' }] },
        ['constraints', 0, 'attribute'],
        'must be arch, os, name, driver, label.<key> or device./dev/<name>',
      );
    }
  });
  it('bounds rule values', () => {
    const constraint = (operator: string, value: unknown) => ({
      ...docker,
      constraints: [{ attribute: 'os', operator, value }],
    });
    expectIssue(
      constraint('=', 'x'.repeat(257)),
      ['constraints', 0, 'value'],
      'must be at most 256 characters',
    );
    expectIssue(constraint('in', []), ['constraints', 0, 'value'], 'must not be empty');
    expectIssue(
      constraint('in', ['x'.repeat(257)]),
      ['constraints', 0, 'value', 0],
      'must be at most 256 characters',
    );
  });
  it('names the operators', () => {
    expectIssue(
      { ...docker, constraints: [{ attribute: 'arch', operator: '==', value: 'x' }] },
      ['constraints', 0, 'operator'],
      'must be one of: =, !=, in, not_in',
    );
  });
  it('affinity weights are -100..100 and not 0', () => {
    const affinity = (weight: number) => ({
      ...docker,
      affinities: [{ attribute: 'arch', operator: '=', value: 'x', weight }],
    });
    expectIssue(affinity(0), ['affinities', 0, 'weight'], /must not be 0/);
    expectIssue(affinity(101), ['affinities', 0, 'weight'], 'must be <= 100');
    expectIssue(affinity(-101), ['affinities', 0, 'weight'], 'must be >= -100');
    expect(specOf(affinity(-100)).affinities[0]).toMatchObject({ weight: -100 });
  });
});

describe('unknown fields', () => {
  it('are errors on the field name, with a suggestion for typos and Nomad spellings', () => {
    const issues = issuesOf({
      ...docker,
      cout: 3,
      update: { max_parallel: 2 },
      resources: { cpus: 1 },
      zzz: 1,
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: ['cout'], message: 'unknown field "cout" (did you mean "count"?)', target: 'name' },
        { path: ['zzz'], message: 'unknown field "zzz"', target: 'name' },
        {
          path: ['update', 'max_parallel'],
          message: 'unknown field "max_parallel" (did you mean "maxParallel"?)',
          target: 'name',
        },
        {
          path: ['resources', 'cpus'],
          message: 'unknown field "cpus" (did you mean "cpu"?)',
          target: 'name',
        },
      ]),
    );
  });
  it('reports every unknown field of one mapping separately', () => {
    const names = issuesOf({ ...docker, a1: 1, b2: 2, c3: 3 }).map((issue) => issue.path.join('.'));
    expect(names).toEqual(expect.arrayContaining(['a1', 'b2', 'c3']));
  });
});

describe('limits for replicated specs', () => {
  it('bounds count, name, strings and lists', () => {
    expectIssue({ ...docker, count: LIMITS.count + 1 }, ['count'], `must be <= ${LIMITS.count}`);
    expectIssue({ ...docker, count: -1 }, ['count'], 'must be >= 0');
    expectIssue({ ...docker, count: 1.5 }, ['count'], 'must be an integer, got the number 1.5');
    expectIssue({ ...docker, name: 'a'.repeat(64) }, ['name'], /1-63 lowercase/);
    expectIssue({ ...docker, name: 'Web' }, ['name'], /1-63 lowercase/);
    expectIssue({ ...docker, name: '-web' }, ['name'], /not starting or ending with "-"/);
    expectIssue(
      { ...docker, command: 'x'.repeat(LIMITS.text + 1) },
      ['command'],
      `must be at most ${LIMITS.text} characters`,
    );
    expectIssue(
      { ...docker, args: Array(LIMITS.args + 1).fill('x') },
      ['args'],
      `must have at most ${LIMITS.args} items`,
    );
    expectIssue({ ...docker, image: 'has space' }, ['image'], 'must not contain spaces');
  });
  it('bounds the environment by names, count and total size', () => {
    expectIssue(
      { ...docker, env: { PORT: 8080 } },
      ['env', 'PORT'],
      'must be a string, got an integer (quote it: "8080")',
    );
    expectIssue({ ...docker, env: { '1X': 'a' } }, ['env', '1X'], /environment variable names/);
    const many = Object.fromEntries(Array.from({ length: LIMITS.envEntries + 1 }, (_, i) => [`V${i}`, 'x']));
    expectIssue({ ...docker, env: many }, ['env'], `at most ${LIMITS.envEntries} variables`);
    const big = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`V${i}`, 'x'.repeat(4_000)]));
    expectIssue({ ...docker, env: big }, ['env'], /together must stay under/);
  });
  it('refuses a __proto__ variable rather than dropping it', () => {
    const env = JSON.parse('{"__proto__": "x", "A": "b"}');
    expectIssue({ ...docker, env }, ['env', '__proto__'], 'reserved name, not a variable');
  });
  it('says what a mapping and a list were given instead', () => {
    expectIssue([], [], 'must be a mapping, got a list');
    expectIssue(null, [], 'must be a mapping, got null (an empty value)');
    expectIssue({ ...docker, resources: 5 }, ['resources'], 'must be a mapping, got an integer');
    expectIssue({ ...docker, args: 'x' }, ['args'], 'must be a list, got a string');
  });
});
