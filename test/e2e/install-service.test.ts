/**
 * `meshd install-service` from the bundle: it writes a unit systemd accepts, for the meshd it was started as, with
 * the agent's own flags; it never overwrites a unit without --force, prints one with --print, and refuses bad
 * flags with exit 2 and one line naming the flag. It loads no agent to do so.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir } from '../support/agents.js';
import { bundle, MESHD } from '../support/processes.js';
import { verifyUnit } from '../support/systemd-verify.js';

const run = promisify(execFile);
const cleanups: (() => Promise<void>)[] = [];
beforeAll(bundle, 60_000);
afterAll(async () => {
  for (const c of cleanups) await c();
});

async function meshd(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [MESHD, ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test('writes a unit systemd accepts, refuses to overwrite it without --force, prints it with --print', async () => {
  const tmp = await tempDir('mycel-install-');
  cleanups.push(tmp.cleanup);
  const unitPath = join(tmp.path, 'systemd', 'meshd.service');
  const token = join(tmp.path, 'join-token');
  const flags = ['--unit', unitPath, '--join', '/ip4/192.0.2.10/tcp/4001', '--join-token-file', token];
  await writeFile(token, 'mycel1.x.y\n', { mode: 0o600 });

  const first = await meshd('install-service', ...flags);
  expect(first).toMatchObject({ code: 0, stderr: '' });
  expect(first.stdout).toContain(`wrote ${unitPath}`);
  expect(first.stdout).toMatch(
    /systemctl daemon-reload\n\s+systemctl enable --now meshd\.service\n\s+journalctl -u meshd\.service/,
  );
  const unit = await readFile(unitPath, 'utf8');
  expect(unit).toContain(`ExecStart=${MESHD} --data-dir /var/lib/mycel`);
  expect(unit).toContain('--join /ip4/192.0.2.10/tcp/4001');
  expect(unit).toContain(`LoadCredential=join-token:${token}`);
  expect(await verifyUnit(unit)).toEqual({ code: 0, output: '' });

  await writeFile(unitPath, '# the operator edited this\n');
  const again = await meshd('install-service', ...flags, '--memory-max', '512M');
  expect(again.code).toBe(2);
  expect(again.stderr).toBe(`${unitPath} exists: pass --force to overwrite it\n`);
  expect(await readFile(unitPath, 'utf8')).toBe('# the operator edited this\n');

  expect((await meshd('install-service', ...flags, '--memory-max', '512M', '--force')).code).toBe(0);
  expect(await readFile(unitPath, 'utf8')).toMatch(/^MemoryMax=512M$/m);

  const printed = await meshd('install-service', '--print', '--unit', join(tmp.path, 'not-written.service'));
  expect(printed.code).toBe(0);
  expect(printed.stdout).toMatch(/^\[Unit\]$/m);
  expect(printed.stdout).toMatch(/^StateDirectory=mycel$/m);
  expect(existsSync(join(tmp.path, 'not-written.service'))).toBe(false);
}, 60_000);

test('bad flags: exit 2 and one line naming the flag, no file written', async () => {
  const tmp = await tempDir('mycel-install-');
  cleanups.push(tmp.cleanup);
  const unitPath = join(tmp.path, 'meshd.service');
  for (const [flags, error] of [
    [
      ['--data-dir', '/srv/mycel'],
      /^meshd install-service: --data-dir \/srv\/mycel: must be a directory under \/var\/lib\//,
    ],
    [['--join', '/ip4/1.2.3.4/tcp/1 --allow-remote-api'], /^meshd install-service: --join .*no spaces/],
    [['--memory-max', 'lots'], /^meshd install-service: --memory-max lots: expected a size/],
    [
      ['--driver', 'bogus'],
      /^meshd install-service: --driver bogus: must be one of auto, docker, exec, none/,
    ],
    [
      ['--join-token-file', join(tmp.path, 'no-token')],
      /^meshd install-service: --join-token-file .*\/no-token: no such file; write the token/,
    ],
  ] as const) {
    const r = await meshd('install-service', '--unit', unitPath, ...flags);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(error);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }
  expect(existsSync(unitPath)).toBe(false);
  // Agent flags still parse before the subcommand's: the agent is not started by a typo.
  expect((await meshd('--frobnicate')).code).not.toBe(0);
  expect((await meshd('--help')).stdout).toMatch(/install-service/);
}, 60_000);
