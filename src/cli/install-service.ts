import { existsSync, realpathSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../node/setup/flag-values.js';
import { renderUnit } from './service-unit.js';

export interface InstallServiceFlags {
  unit: string;
  join?: string[];
  joinTokenFile?: string;
  dataDir: string;
  memoryMax: string;
  driver: string;
  print?: boolean;
  force?: boolean;
}

/**
 * `meshd install-service`: the unit for this very meshd (the path it was started by, which `npm install -g`
 * keeps pointing at the installed version), written where systemd looks, never over one already there unless
 * --force. It does not call systemctl: PID 1 may not be systemd (containers, images being built), and enabling
 * a service is the operator's call; the commands are printed instead.
 */
export async function installService(flags: InstallServiceFlags, meshdPath: string): Promise<void> {
  let unit: string;
  try {
    unit = renderUnit({
      meshd: resolve(meshdPath),
      dataDir: flags.dataDir,
      join: flags.join ?? [],
      joinTokenFile: flags.joinTokenFile && resolve(flags.joinTokenFile),
      memoryMax: flags.memoryMax,
      driver: flags.driver,
    });
  } catch (err) {
    throw new ConfigError(`meshd install-service: ${(err as Error).message}`);
  }
  if (flags.print) {
    process.stdout.write(unit);
    return;
  }
  // systemd refuses to start a unit whose credential file is missing, with a line in the journal only.
  if (flags.joinTokenFile !== undefined && !existsSync(flags.joinTokenFile)) {
    throw new ConfigError(
      `meshd install-service: --join-token-file ${resolve(flags.joinTokenFile)}: no such file; write the token from \`meshctl mesh join-token\` there first`,
    );
  }
  const path = resolve(flags.unit);
  await mkdir(dirname(path), { recursive: true });
  try {
    await writeFile(path, unit, { mode: 0o644, flag: flags.force ? 'w' : 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new ConfigError(`${path} exists: pass --force to overwrite it`);
    throw new ConfigError(`cannot write ${path}: ${(err as Error).message}`);
  }
  const name = path.split('/').pop() ?? 'meshd.service';
  const token = flags.joinTokenFile ? resolve(flags.joinTokenFile) : undefined;
  process.stdout.write(
    [
      `wrote ${path} (meshd ${realpathOr(meshdPath)})`,
      ...(token ? [`the agent reads its join token from ${token} (chmod 600, owned by root)`] : []),
      'then:',
      '  systemctl daemon-reload',
      `  systemctl enable --now ${name}`,
      `  journalctl -u ${name} -f`,
      '',
    ].join('\n'),
  );
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
