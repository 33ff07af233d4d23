import { describe, expect, it } from 'vitest';
import { containerConfig } from '../../../src/node/drivers/docker-container-config.js';
import type { DockerTaskSpec } from '../../../src/node/drivers/driver.js';

const base: DockerTaskSpec = {
  allocId: 'sensor.0.0.abcd',
  job: 'sensor',
  jobVersion: 1,
  driver: 'docker',
  image: 'local/busybox:1',
  args: [],
  env: {},
  network: 'host',
  ports: [],
  resources: { cpu: 100, memory: 32 },
};

describe('containerConfig: storage and hardware', () => {
  it('maps mounts, devices, privileges, capabilities, groups and user to the engine fields', () => {
    const config = containerConfig(
      {
        ...base,
        devices: ['/dev/ttyUSB0', '/dev/video0:/dev/cam0:r'],
        privileged: true,
        capAdd: ['NET_ADMIN'],
        capDrop: ['ALL'],
        groupAdd: ['dialout', '44'],
        user: '1000',
      },
      'owner',
      [
        { source: '/var/lib/sensor', target: '/data', readOnly: false },
        { source: '/data/mycel/volumes/sensor/cache', target: '/cache', readOnly: true },
      ],
    );
    expect(config.User).toBe('1000');
    expect(config.HostConfig).toMatchObject({
      Mounts: [
        { Type: 'bind', Source: '/var/lib/sensor', Target: '/data', ReadOnly: false },
        { Type: 'bind', Source: '/data/mycel/volumes/sensor/cache', Target: '/cache', ReadOnly: true },
      ],
      Devices: [
        { PathOnHost: '/dev/ttyUSB0', PathInContainer: '/dev/ttyUSB0', CgroupPermissions: 'rwm' },
        { PathOnHost: '/dev/video0', PathInContainer: '/dev/cam0', CgroupPermissions: 'r' },
      ],
      Privileged: true,
      CapAdd: ['NET_ADMIN'],
      CapDrop: ['ALL'],
      GroupAdd: ['dialout', '44'],
    });
  });

  it('adds no field a task does not ask for, so plain containers are created as before', () => {
    const config = containerConfig(base, 'owner');
    expect(config).not.toHaveProperty('User');
    for (const field of ['Mounts', 'Devices', 'Privileged', 'CapAdd', 'CapDrop', 'GroupAdd']) {
      expect(config.HostConfig).not.toHaveProperty(field);
    }
    expect(containerConfig({ ...base, privileged: false }, 'owner').HostConfig).not.toHaveProperty(
      'Privileged',
    );
  });
});
