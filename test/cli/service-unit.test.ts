/**
 * The systemd unit meshd ships (deploy/meshd.service) and writes (`meshd install-service`): systemd itself must
 * accept it without a warning (an unknown key or a bad value is only a warning to systemd, and the setting is then
 * silently dropped), and options that would break a unit line are refused with the flag to fix.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { renderUnit, UNIT_DEFAULTS, type UnitOptions } from '../../src/cli/service-unit.js';
import { verifyUnit } from '../support/systemd-verify.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** The shipped unit names /usr/local/bin/meshd, which need not exist here: any real executable stands in. */
const runnable = (o: Partial<UnitOptions> = {}) =>
  renderUnit({ ...UNIT_DEFAULTS, meshd: process.execPath, ...o });

describe('the systemd unit', () => {
  test('deploy/meshd.service is the unit install-service writes with its defaults', async () => {
    const shipped = await readFile(join(ROOT, 'deploy/meshd.service'), 'utf8');
    // After changing service-unit.ts: npm run build, then write renderUnit(UNIT_DEFAULTS) to deploy/meshd.service.
    expect(shipped).toBe(renderUnit(UNIT_DEFAULTS));
  });

  test('passes systemd-analyze verify without a warning, with and without a join token file', async () => {
    for (const unit of [
      runnable(),
      runnable({
        joinTokenFile: undefined,
        join: ['/ip4/192.0.2.10/tcp/4001', '/dns4/hub.example/tcp/4001'],
      }),
      runnable({ dataDir: '/var/lib/mycel/agent-2', memoryMax: '1G', driver: 'exec' }),
    ]) {
      expect(await verifyUnit(unit)).toEqual({ code: 0, output: '' });
    }
  });

  test('verify does catch what the test relies on it to catch', async () => {
    const bad = runnable().replace('Restart=always', 'Restart=always\nMemoryMaximum=1G');
    expect((await verifyUnit(bad)).output).toMatch(/Unknown key 'MemoryMaximum'/);
    expect(
      (await verifyUnit(renderUnit(UNIT_DEFAULTS).replace('/usr/local/bin/meshd', '/nonexistent/meshd')))
        .code,
    ).not.toBe(0);
  });

  test('keeps the settings a device relies on', () => {
    const unit = renderUnit({ ...UNIT_DEFAULTS, join: ['/ip4/192.0.2.10/tcp/4001'] });
    for (const line of [
      'Restart=always',
      'StateDirectory=mycel',
      'LoadCredential=join-token:/etc/mycel/join-token',
      'MemoryMax=256M',
      'NoNewPrivileges=yes',
      'ProtectSystem=full',
      'ProtectHome=read-only',
      'PrivateTmp=yes',
      'KillMode=process',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
    expect(unit).toMatch(/--join \/ip4\/192\.0\.2\.10\/tcp\/4001/);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: systemd's variable, in the unit's text
    expect(unit).toContain('--join-token-file ${CREDENTIALS_DIRECTORY}/join-token');
    expect(renderUnit({ ...UNIT_DEFAULTS, joinTokenFile: undefined })).not.toMatch(
      /LoadCredential|join-token/,
    );
  });

  test('refuses options that cannot go into a unit line, naming the flag', () => {
    const cases: [Partial<UnitOptions>, RegExp][] = [
      [{ dataDir: '/srv/mycel' }, /--data-dir \/srv\/mycel: must be a directory under \/var\/lib\//],
      [{ dataDir: '/var/lib/' }, /--data-dir/],
      [{ dataDir: '/var/lib/../etc' }, /--data-dir/],
      [{ join: ['/ip4/1.2.3.4/tcp/1 --allow-remote-api'] }, /--join .*no spaces/],
      [{ joinTokenFile: 'token' }, /--join-token-file token: must be an absolute path/],
      [{ joinTokenFile: '/etc/my token' }, /--join-token-file/],
      [{ memoryMax: 'lots' }, /--memory-max lots: expected a size/],
      [{ meshd: 'meshd' }, /must be absolute/],
      [{ driver: 'exec\nUser=nobody' }, /--driver/],
      [{ driver: 'bogus' }, /--driver bogus: must be one of auto, docker, exec, none/],
    ];
    for (const [options, error] of cases) {
      expect(() => renderUnit({ ...UNIT_DEFAULTS, ...options })).toThrow(error);
    }
  });
});
