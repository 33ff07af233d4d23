/**
 * The systemd unit that runs meshd on a device (`meshd install-service`, and deploy/meshd.service in the package).
 * Pure: the same options give the same text, so the shipped file is checked against it.
 */
import { isAbsolute, posix } from 'node:path';
import { DRIVERS } from '../node/setup/flag-values.js';

export interface UnitOptions {
  /** Absolute path of the meshd command; run as is so that its #! line's memory flags for Node apply. */
  readonly meshd: string;
  /** Under /var/lib: systemd creates it (StateDirectory), and it is the one place the sandbox lets meshd write. */
  readonly dataDir: string;
  readonly join: readonly string[];
  /** Absolute path of the join token file on the device; systemd hands a copy to the agent only. */
  readonly joinTokenFile?: string | undefined;
  /** systemd size: 256M, 1G. */
  readonly memoryMax: string;
  readonly driver: string;
}

export const UNIT_DEFAULTS: UnitOptions = {
  meshd: '/usr/local/bin/meshd',
  dataDir: '/var/lib/mycel',
  join: [],
  joinTokenFile: '/etc/mycel/join-token',
  memoryMax: '256M',
  driver: 'auto',
};

const STATE_ROOT = '/var/lib/';
/** Characters a unit line could misread (spaces split arguments, % and $ expand, newlines end the line). */
const UNSAFE = /[\s"'\\%$;]/;

/** Throws with what to fix when an option cannot go into a unit line. */
export function renderUnit(o: UnitOptions): string {
  const dataDir = posix.normalize(o.dataDir).replace(/\/$/, '');
  if (!dataDir.startsWith(STATE_ROOT) || dataDir.length === STATE_ROOT.length) {
    throw new Error(
      `--data-dir ${o.dataDir}: must be a directory under ${STATE_ROOT} (systemd's StateDirectory)`,
    );
  }
  for (const [flag, value] of [
    ['meshd path', o.meshd],
    ['--data-dir', dataDir],
    ['--join-token-file', o.joinTokenFile ?? '/'],
    ['--memory-max', o.memoryMax],
    ['--driver', o.driver],
    ...o.join.map((j) => ['--join', j]),
  ] as const) {
    if (value === '' || UNSAFE.test(value)) {
      throw new Error(`${flag} "${value}": no spaces, quotes, backslashes, %, $ or ; in a unit file`);
    }
  }
  if (!isAbsolute(o.meshd)) throw new Error(`meshd path "${o.meshd}" must be absolute`);
  if (o.joinTokenFile !== undefined && !isAbsolute(o.joinTokenFile)) {
    throw new Error(`--join-token-file ${o.joinTokenFile}: must be an absolute path`);
  }
  // A unit that names a driver meshd refuses would restart it every 2 s for ever.
  if (!(DRIVERS as readonly string[]).includes(o.driver)) {
    throw new Error(`--driver ${o.driver}: must be one of ${DRIVERS.join(', ')}`);
  }
  if (!/^\d+[KMGT]?$/.test(o.memoryMax)) {
    throw new Error(`--memory-max ${o.memoryMax}: expected a size such as 256M or 1G`);
  }
  const args = [
    `--data-dir ${dataDir}`,
    `--driver ${o.driver}`,
    ...o.join.map((j) => `--join ${j}`),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: systemd expands it when it starts meshd
    ...(o.joinTokenFile ? ['--join-token-file ${CREDENTIALS_DIRECTORY}/join-token'] : []),
  ];
  return `${[
    '# Written by `meshd install-service`; see the README, "Install on a device".',
    '[Unit]',
    'Description=Mycel agent (meshd): joins the mesh and runs this device’s share of the work',
    'Wants=network-online.target',
    'After=network-online.target docker.service',
    '',
    '[Service]',
    'Type=exec',
    `ExecStart=${o.meshd} ${args.join(' \\\n  ')}`,
    'Restart=always',
    'RestartSec=2s',
    '# meshd gives itself 10 s to leave the mesh before it exits on its own.',
    'TimeoutStopSec=15s',
    '# Exec copies run in their own sessions and a restarted agent adopts them: an upgrade or a crash of the',
    '# agent does not take the device’s work down with it.',
    'KillMode=process',
    `StateDirectory=${dataDir.slice(STATE_ROOT.length)}`,
    'StateDirectoryMode=0700',
    ...(o.joinTokenFile ? [`LoadCredential=join-token:${o.joinTokenFile}`] : []),
    '# The agent and its exec copies; Docker’s containers live in Docker’s own cgroups.',
    `MemoryMax=${o.memoryMax}`,
    'LimitNOFILE=65536',
    '# Root for the Docker socket and exec copies; the sandbox keeps /usr, /boot, /etc and homes read-only to',
    '# them. An exec job that must write elsewhere needs a ReadWritePaths= line in a drop-in (systemctl edit).',
    'NoNewPrivileges=yes',
    'ProtectSystem=full',
    'ProtectHome=read-only',
    'PrivateTmp=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'RestrictRealtime=yes',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ].join('\n')}\n`;
}
