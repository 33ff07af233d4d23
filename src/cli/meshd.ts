#!/usr/bin/env -S node --max-semi-space-size=1 --optimize-for-size --single-threaded --v8-pool-size=0
// The entry parses flags only: the agent (libp2p, Automerge, pino, zod) loads once there is an agent to start,
// so `meshd --version`, `--help` and `install-service` answer without it.
import { Command, Option } from 'commander';
import { LOG_LEVELS } from '../lib/log-levels.js';
import { StartupError } from '../lib/startup-error.js';
import { ConfigError, DRIVERS, RELAY_MODES } from '../node/setup/flag-values.js';
import { VERSION } from '../version.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];
const int = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new ConfigError(`expected a whole number, got "${value}"`);
  return n;
};

const program = new Command('meshd')
  .description('The Mycel agent: joins the mesh, replicates its state, runs this device’s share of the work.')
  .version(VERSION)
  // install-service has flags of its own with the same names (--join, --data-dir): agent flags go before it.
  .enablePositionalOptions()
  .option('--config <file>', 'YAML file of settings (flag > MESH_* env > file > default)')
  .option('--data-dir <dir>', 'where identity, state and logs live (default ./mesh-data)')
  .option(
    '--listen <multiaddr>',
    'libp2p listen address, repeatable (default /ip4/0.0.0.0/tcp/4001)',
    collect,
  )
  .option('--join <multiaddr>', 'address of any mesh member to join through, repeatable', collect)
  .option(
    '--join-token-file <file>',
    'file holding the token to join a closed mesh (`meshctl mesh join-token`); kept in the data dir',
  )
  .option('--join-token <token>', 'the token itself; visible in `ps`: prefer the file or MESH_JOIN_TOKEN')
  .option('--api <host:port>', 'control API address for meshctl (default 127.0.0.1:7411)')
  .option('--allow-remote-api', 'allow the control API on a non-loopback address')
  .option('--name <name>', 'this node’s name (default: hostname)')
  .option('--label <key=value>', 'node label for placement constraints, repeatable', collect)
  .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS))
  .addOption(new Option('--driver <driver>', 'workload drivers to offer (none: relay only)').choices(DRIVERS))
  .option('--docker-socket <path>', 'Docker Engine socket (default /var/run/docker.sock)')
  .option('--heartbeat-interval-ms <ms>', 'liveness heartbeat period (default 2000)', int)
  .option('--suspect-after-ms <ms>', 'silence before a peer is suspect (default 6000)', int)
  .option('--lost-after-ms <ms>', 'silence before a peer is lost (default 20000)', int)
  .option('--target-peers <n>', 'connections this agent keeps open (default 8)', int)
  .option('--max-connections <n>', 'hard connection limit (default 64)', int)
  .addOption(
    new Option(
      '--relay <mode>',
      'server: relay for devices behind NAT (a member others can dial); client: hold reservations on two relays (default); off',
    ).choices(RELAY_MODES),
  )
  .option(
    '--registry-listen <host:port|off>',
    'loopback registry Docker pulls images through (default 127.0.0.1:5050)',
  )
  .option(
    '--dns-listen <host:port|off>',
    'UDP address answering NAME.service.mycel from the service catalog, e.g. 127.0.0.1:8600 (default off)',
  )
  .option('--port-range <from-to>', 'host ports dynamic job ports are taken from (default 20000-32000)')
  .option('--registry-cache-mb <mb>', 'size cap of the image layer store (default 4096)', int)
  .option('--gc-finished-per-job <n>', 'finished copies whose logs a job keeps here (default 10)', int)
  .option('--gc-finished-max-age-ms <ms>', 'how long a finished copy keeps its logs (default 86400000)', int)
  .option(
    '--allow-host-path <path>',
    'host path jobs may mount, with what lies under it; repeatable',
    collect,
  )
  .option('--device <path>', 'device to advertise besides the usual /dev patterns; repeatable', collect)
  .action(async (opts) => {
    const { runAgent } = await import('./meshd-run.js');
    await runAgent(opts);
  });

program
  .command('install-service')
  .description('write a systemd unit that runs this meshd at boot, and print the systemctl commands')
  .option('--unit <file>', 'where to write the unit', '/etc/systemd/system/meshd.service')
  .option('--join <multiaddr>', 'address of a mesh member to join through, repeatable', collect)
  .option('--join-token-file <file>', 'the join token, handed to the agent by systemd (LoadCredential)')
  .option('--data-dir <dir>', 'data dir under /var/lib (StateDirectory)', '/var/lib/mycel')
  .option('--memory-max <size>', 'memory ceiling of the agent and its exec copies (MemoryMax)', '256M')
  .option('--driver <driver>', 'workload drivers to offer', 'auto')
  .option('--print', 'print the unit to stdout instead of writing it')
  .option('--force', 'overwrite an existing unit file')
  .action(async (opts) => {
    const { installService } = await import('./install-service.js');
    await installService(opts, process.argv[1] ?? 'meshd');
  });

program.parseAsync().catch((err: unknown) => {
  const message =
    err instanceof ConfigError
      ? err.message
      : err instanceof StartupError
        ? `meshd: ${err.message}`
        : `meshd: ${(err as Error).stack ?? String(err)}`;
  process.stderr.write(`${message}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
