import { describe, expect, it } from 'vitest';
import { type JobSpecIssue, jobSpecToInput, validateJobSpec } from '../../src/crdt/job-spec.js';
import {
  deviceHostPaths,
  hostPathsOf,
  parseDevice,
  STORAGE_LIMITS,
} from '../../src/crdt/job-spec-storage.js';
import { specOf } from '../support/job-spec-checks.js';

const docker = { name: 'sensor', driver: 'docker', image: 'local/busybox:1' } as const;
const exec = { name: 'sensor', driver: 'exec', command: '/bin/sh' } as const;

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

const full = {
  ...docker,
  volumes: [
    { source: '/var/lib/sensor', target: '/data', readOnly: true },
    { name: 'cache', target: '/cache' },
  ],
  devices: ['/dev/ttyUSB0', '/dev/video0:/dev/cam0:rw'],
  privileged: false,
  capAdd: ['NET_ADMIN', 'CAP_SYS_TIME'],
  capDrop: ['ALL'],
  groupAdd: ['dialout', '20'],
  user: '1000',
};

describe('storage and hardware fields', () => {
  it('are stored as written, absent when not given, so older specs keep their hash', () => {
    const spec = specOf(full);
    expect(spec).toMatchObject(full);
    const plain = specOf(docker);
    for (const field of ['volumes', 'devices', 'privileged', 'capAdd', 'capDrop', 'groupAdd', 'user']) {
      expect(Object.hasOwn(plain, field), field).toBe(false);
    }
    expect(specOf(jobSpecToInput(spec))).toEqual(spec);
  });

  it('tell placement the host paths and device paths a job needs', () => {
    const spec = specOf(full);
    expect(hostPathsOf(spec)).toEqual(['/var/lib/sensor']);
    expect(deviceHostPaths(spec)).toEqual(['/dev/ttyUSB0', '/dev/video0']);
  });

  it('parse devices as docker --device does', () => {
    expect(parseDevice('/dev/ttyUSB0')).toEqual({
      ok: true,
      device: { host: '/dev/ttyUSB0', container: '/dev/ttyUSB0', permissions: 'rwm' },
    });
    expect(parseDevice('/dev/video0:/dev/cam0:rw')).toEqual({
      ok: true,
      device: { host: '/dev/video0', container: '/dev/cam0', permissions: 'rw' },
    });
  });
});

describe('bad volumes are refused with what to fix', () => {
  const volume = (v: unknown) => ({ ...docker, volumes: [v] });
  it.each([
    [{ source: 'var/lib', target: '/data' }, 'source', /absolute path/],
    [{ source: '/var/../etc', target: '/data' }, 'source', /must not contain "\.\." segments/],
    [{ source: '/var/./lib', target: '/data' }, 'source', /must not contain "\." segments/],
    [{ source: '/var//lib', target: '/data' }, 'source', /"\/\/"/],
    [{ source: '/var/lib/', target: '/data' }, 'source', /must not end with "\/"/],
    [{ source: '/a:b', target: '/data' }, 'source', /":" or ","/],
    [{ source: '/a\0b', target: '/data' }, 'source', /NUL/],
    [{ source: '/srv', target: 'data' }, 'target', /absolute path/],
    [{ source: '/srv', target: '/data/..' }, 'target', /"\.\."/],
    [{ source: '/srv', target: '/' }, 'target', /must not be "\/"/],
    [{ name: 'Bad Name', target: '/data' }, 'name', /lowercase letters/],
    [{ source: '/srv', target: '/data', readOnly: 'yes' }, 'readOnly', /must be true or false/],
    [{ source: '/srv', target: '/data', mode: 'rw' }, 'mode', /unknown field/],
  ])('%o at %s', (v, field, message) => {
    expectIssue(volume(v), ['volumes', 0, field], message);
  });

  it('need exactly one of source and name', () => {
    expectIssue(volume({ target: '/data' }), ['volumes', 0], /exactly one of source/);
    expectIssue(volume({ source: '/srv', name: 'x', target: '/data' }), ['volumes', 0], /exactly one/);
  });

  it('refuse duplicate targets and names, and more than the limit', () => {
    const dup = {
      ...docker,
      volumes: [
        { name: 'a', target: '/data' },
        { name: 'a', target: '/data' },
      ],
    };
    expectIssue(dup, ['volumes', 1, 'target'], 'duplicate target /data');
    expectIssue(dup, ['volumes', 1, 'name'], 'duplicate volume name "a"');
    const many = Array.from({ length: STORAGE_LIMITS.volumes + 1 }, (_, i) => ({
      name: `v${i}`,
      target: `/v${i}`,
    }));
    expectIssue({ ...docker, volumes: many }, ['volumes'], /at most 32/);
  });

  it('refuse nested targets for exec, whose links would land inside another volume', () => {
    const volumes = [
      { name: 'a', target: '/data' },
      { name: 'b', target: '/data/sub' },
    ];
    expectIssue({ ...exec, volumes }, ['volumes', 1, 'target'], /cannot share a path with \/data/);
    expect(specOf({ ...docker, volumes }).volumes).toHaveLength(2);
    expect(specOf({ ...exec, volumes: [volumes[0], { name: 'b', target: '/data2' }] }).volumes).toHaveLength(
      2,
    );
  });

  it('refuse readOnly for exec, which links instead of mounting', () => {
    expectIssue(
      { ...exec, volumes: [{ name: 'a', target: '/a', readOnly: true }] },
      ['volumes', 0, 'readOnly'],
      /cannot make a path read-only/,
    );
    expect(specOf({ ...exec, volumes: [{ name: 'a', target: '/a', readOnly: false }] }).volumes).toHaveLength(
      1,
    );
  });
});

describe('bad devices and privileges are refused', () => {
  it.each([
    ['ttyUSB0', /must be a device under \/dev\//],
    ['/sys/class/gpio', /device under \/dev\//],
    ['/dev/video0:cam0', /container path must be a device under \/dev\//],
    ['/dev/../etc/passwd', /"\.\." segments/],
    ['/dev/a:/dev/b:rx', /permissions must be some of r, w and m/],
    ['/dev/a:/dev/b:rr', /each once/],
    ['/dev/a:/dev/b:rw:x', /host\[:container\[:permissions\]\]/],
  ])('%s', (device, message) => {
    expectIssue({ ...docker, devices: [device] }, ['devices', 0], message);
  });

  it('refuse two devices at one container path', () => {
    expectIssue(
      { ...docker, devices: ['/dev/video0:/dev/cam', '/dev/video1:/dev/cam'] },
      ['devices', 1],
      'duplicate device /dev/cam',
    );
  });

  it('refuse bad capabilities, groups and users, and duplicates', () => {
    expectIssue({ ...docker, capAdd: ['net_admin'] }, ['capAdd', 0], /Linux capability/);
    expectIssue({ ...docker, capDrop: ['NET_ADMIN', 'NET_ADMIN'] }, ['capDrop', 1], 'duplicate NET_ADMIN');
    expectIssue({ ...docker, groupAdd: ['dial out'] }, ['groupAdd', 0], /group name or a numeric id/);
    expectIssue({ ...docker, user: 'root:root' }, ['user'], /user name or a numeric id/);
    expectIssue({ ...docker, privileged: 'yes' }, ['privileged'], /must be true or false/);
  });

  it('refuse for exec what a host process cannot be given', () => {
    expectIssue({ ...exec, privileged: true }, ['privileged'], /exec driver cannot grant privileged/);
    expectIssue({ ...exec, capAdd: ['NET_ADMIN'] }, ['capAdd'], /cannot grant capAdd/);
    expectIssue({ ...exec, capDrop: ['ALL'] }, ['capDrop'], /cannot grant capDrop/);
    expectIssue({ ...exec, devices: ['/dev/video0:/dev/cam0'] }, ['devices', 0], /cannot map or restrict/);
    expectIssue(
      { ...exec, devices: ['/dev/video0:/dev/video0:r'] },
      ['devices', 0],
      /cannot map or restrict/,
    );
    expectIssue({ ...exec, groupAdd: ['dialout'] }, ['groupAdd'], /give user as well/);
    expect(specOf({ ...exec, user: 'nobody', groupAdd: ['dialout'], devices: ['/dev/ttyUSB0'] }).user).toBe(
      'nobody',
    );
  });
});
