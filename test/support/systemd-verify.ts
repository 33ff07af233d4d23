import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const run = promisify(execFile);

/** `systemd-analyze verify` on a plain file (PID 1 need not be systemd); its ExecStart must exist. */
export async function verifyUnit(
  text: string,
  name = 'meshd.service',
): Promise<{ code: number; output: string }> {
  if (!existsSync(SYSTEMD_ANALYZE)) {
    throw new Error(`${SYSTEMD_ANALYZE} is missing: install systemd (CI has it) to run this test`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'mycel-unit-'));
  const path = join(dir, name);
  await writeFile(path, text);
  try {
    const { stdout, stderr } = await run(SYSTEMD_ANALYZE, ['verify', '--man=no', path]);
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
