import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { nodeRecordSchema } from '../../../src/crdt/records.js';
import { offeredDevices } from '../../../src/node/drivers/offered-devices.js';
import { defaultConfig, resolveConfig } from '../../../src/node/setup/config.js';
import { ConfigError } from '../../../src/node/setup/flag-values.js';
import { localNodeRecord } from '../../../src/node/state/local-node-record.js';

describe('--allow-host-path and --device', () => {
  test('default to none; come from flags, MESH_* lists and the file', () => {
    expect(defaultConfig().allowHostPath).toEqual([]);
    expect(defaultConfig().device).toEqual([]);
    const fromFlags = resolveConfig({
      flags: { allowHostPath: ['/var/lib/sensor'], device: ['/dev/zero'] },
      env: {},
    });
    expect([fromFlags.allowHostPath, fromFlags.device]).toEqual([['/var/lib/sensor'], ['/dev/zero']]);
    const fromEnv = resolveConfig({ flags: {}, env: { MESH_ALLOW_HOST_PATH: '/srv,/var/lib/a' } });
    expect(fromEnv.allowHostPath).toEqual(['/srv', '/var/lib/a']);
    const fromFile = resolveConfig({
      flags: {},
      env: {},
      file: { name: 'meshd.yaml', content: { 'allow-host-path': ['/data'], device: ['/dev/ttyS0'] } },
    });
    expect([fromFile.allowHostPath, fromFile.device]).toEqual([['/data'], ['/dev/ttyS0']]);
  });

  test.each([
    [{ allowHostPath: ['var/lib'] }, /--allow-host-path .*absolute path/],
    [{ allowHostPath: ['/var/../etc'] }, /"\.\." segments/],
    [{ device: ['/sys/class/gpio'] }, /--device .*a device is a path under \/dev\//],
  ])('refuses %o', (flags, message) => {
    expect(() => resolveConfig({ flags, env: {} })).toThrow(ConfigError);
    expect(() => resolveConfig({ flags, env: {} })).toThrow(message);
  });
});

describe('the node record', () => {
  const init = {
    peerId: '12D3KooWexample',
    config: { name: 'gw-1', labels: {} },
    capacity: { cpu: 4000, memory: 2048 },
    drivers: ['exec'] as const,
    addresses: [],
    arch: 'arm64',
    os: 'linux',
  };

  test('carries devices and allowed host paths sorted, and neither field when empty (as older agents wrote it)', () => {
    const record = localNodeRecord({
      ...init,
      config: { ...init.config, allowHostPath: ['/srv', '/data'] },
      devices: ['/dev/video0', '/dev/ttyUSB0'],
    });
    expect(nodeRecordSchema.parse(record)).toEqual(record);
    expect(record).toMatchObject({ devices: ['/dev/ttyUSB0', '/dev/video0'], hostPaths: ['/data', '/srv'] });
    const plain = localNodeRecord({ ...init, config: { ...init.config, allowHostPath: [] }, devices: [] });
    expect(Object.hasOwn(plain, 'devices') || Object.hasOwn(plain, 'hostPaths')).toBe(false);
  });
});

describe('offered devices', () => {
  test('the usual device patterns and the operator-named paths that exist, sorted, nothing else', async () => {
    const dev = await mkdtemp(join(tmpdir(), 'mycel-dev-'));
    try {
      await mkdir(join(dev, 'dri'));
      for (const name of [
        'ttyUSB0',
        'ttyACM1',
        'video0',
        'gpiochip0',
        'i2c-1',
        'spidev0.0',
        'tty1',
        'loop0',
        'null',
        'zero',
        'dri/renderD128',
        'dri/by-path',
      ]) {
        await writeFile(join(dev, name), '');
      }
      expect(offeredDevices(['/dev/zero', '/dev/absent'], dev)).toEqual([
        '/dev/dri/renderD128',
        '/dev/gpiochip0',
        '/dev/i2c-1',
        '/dev/spidev0.0',
        '/dev/ttyACM1',
        '/dev/ttyUSB0',
        '/dev/video0',
        '/dev/zero',
      ]);
    } finally {
      await rm(dev, { recursive: true, force: true });
    }
  });
});
