import { describe, expect, test } from 'vitest';
import { defaultConfig, resolveConfig } from '../../../src/node/setup/config.js';
import { ConfigError } from '../../../src/node/setup/flag-values.js';
import { DEFAULT_FINISHED_GC } from '../../../src/node/workloads/finished-gc.js';

const file = (content: unknown) => ({ name: 'meshd.yaml', content });

describe('config precedence: flag > env > file > default', () => {
  test('each key resolves from the highest source that sets it', () => {
    const config = resolveConfig({
      flags: { name: 'from-flag', listen: undefined },
      env: {
        MESH_NAME: 'from-env',
        MESH_LOG_LEVEL: 'debug',
        MESH_JOIN: '/ip4/10.0.0.1/tcp/4001,/ip4/10.0.0.2/tcp/4001',
      },
      file: file({
        name: 'from-file',
        'log-level': 'warn',
        api: '127.0.0.1:9000',
        labels: { zone: 'north' },
      }),
    });
    expect(config.name).toBe('from-flag');
    expect(config.logLevel).toBe('debug');
    expect(config.api).toBe('127.0.0.1:9000');
    expect(config.labels).toEqual({ zone: 'north' });
    expect(config.join).toEqual(['/ip4/10.0.0.1/tcp/4001', '/ip4/10.0.0.2/tcp/4001']);
    expect(config.listen).toEqual(defaultConfig().listen);
  });

  test('env labels and numbers are parsed from strings', () => {
    const config = resolveConfig({
      flags: {},
      env: {
        MESH_LABELS: 'zone=south, tier=edge',
        MESH_HEARTBEAT_INTERVAL_MS: '500',
        MESH_ALLOW_REMOTE_API: 'yes',
      },
    });
    expect(config.labels).toEqual({ zone: 'south', tier: 'edge' });
    expect(config.heartbeatIntervalMs).toBe(500);
    expect(config.allowRemoteApi).toBe(true);
  });

  test('the finished-copy GC keys resolve like the others, and default to the policy of finished-gc.ts', () => {
    const config = resolveConfig({
      flags: { gcFinishedPerJob: 3 },
      env: { MESH_GC_FINISHED_MAX_AGE_MS: '60000', MESH_GC_FINISHED_PER_JOB: '5' },
    });
    expect([config.gcFinishedPerJob, config.gcFinishedMaxAgeMs]).toEqual([3, 60_000]);
    const defaults = defaultConfig();
    expect({ maxPerJob: defaults.gcFinishedPerJob, maxAgeMs: defaults.gcFinishedMaxAgeMs }).toEqual({
      maxPerJob: DEFAULT_FINISHED_GC.maxPerJob,
      maxAgeMs: DEFAULT_FINISHED_GC.maxAgeMs,
    });
    expect(() => resolveConfig({ flags: {}, env: {}, file: file({ 'gc-finished-per-job': 0 }) })).toThrow(
      ConfigError,
    );
  });

  test('a flag list replaces, not appends to, the env list', () => {
    const config = resolveConfig({
      flags: { join: ['/ip4/192.0.2.9/tcp/4001'] },
      env: { MESH_JOIN: '/ip4/10.0.0.1/tcp/4001' },
    });
    expect(config.join).toEqual(['/ip4/192.0.2.9/tcp/4001']);
  });
});

describe('config errors say what to fix', () => {
  test('a name with control characters is refused', () => {
    expect(() => resolveConfig({ flags: { name: 'gw\u001b[31m-1' }, env: {} })).toThrow(
      /name.*must not contain control characters/,
    );
    expect(resolveConfig({ flags: { name: 'gw-1 (north)' }, env: {} }).name).toBe('gw-1 (north)');
  });

  test('an unknown file key names the known ones', () => {
    expect(() => resolveConfig({ flags: {}, env: {}, file: file({ nmae: 'x' }) })).toThrow(
      /meshd.yaml: unknown setting "nmae" \(known: data-dir, .*name/,
    );
  });

  test('a bad value names the flag and the env variable', () => {
    expect(() => resolveConfig({ flags: { listen: ['localhost:4001'] }, env: {} })).toThrow(
      /--listen \/ MESH_LISTEN \(0\): expected a TCP multiaddr/,
    );
    expect(() => resolveConfig({ flags: {}, env: { MESH_TARGET_PEERS: 'many' } })).toThrow(
      /MESH_TARGET_PEERS: expected a number/,
    );
    expect(() => resolveConfig({ flags: { labels: { 'bad key!': 'x' } }, env: {} })).toThrow(ConfigError);
  });

  test('inconsistent liveness times are refused', () => {
    expect(() =>
      resolveConfig({ flags: { heartbeatIntervalMs: 5_000, suspectAfterMs: 4_000 }, env: {} }),
    ).toThrow(/suspect-after-ms .*longer than heartbeatIntervalMs/);
  });

  test('a file that is not a mapping is refused', () => {
    expect(() => resolveConfig({ flags: {}, env: {}, file: file(['a']) })).toThrow(/mapping/);
  });
});
