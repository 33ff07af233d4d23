#!/usr/bin/env -S node --max-semi-space-size=1 --optimize-for-size --single-threaded --v8-pool-size=0
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { createLogger, LOG_LEVELS } from '../lib/logger.js';
import { StartupError } from '../lib/startup-error.js';
import { Agent } from '../node/agent.js';
import { loadOrCreateApiToken } from '../node/api/api-token.js';
import { ControlApi } from '../node/api/control-api.js';
import { serveControlProtocol } from '../node/api/control-protocol.js';
import { ConfigError, DRIVERS, parseLabels, resolveConfig } from '../node/setup/config.js';
import { prepareDataDir } from '../node/setup/data-dir.js';
import { lockDataDir } from '../node/setup/data-dir-lock.js';
import { joinTokenFromFlags } from '../node/setup/join-token-source.js';
import { VERSION } from '../version.js';
import { leaveAndStop } from './clean-stop.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];
const int = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new ConfigError(`expected a whole number, got "${value}"`);
  return n;
};

const program = new Command('meshd')
  .description('The Mycel agent: joins the mesh, replicates its state, runs this device’s share of the work.')
  .version(VERSION)
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
  .option(
    '--registry-listen <host:port|off>',
    'loopback registry Docker pulls images through (default 127.0.0.1:5050)',
  )
  .option('--registry-cache-mb <mb>', 'size cap of the image layer store (default 4096)', int)
  .option('--gc-finished-per-job <n>', 'finished copies whose logs a job keeps here (default 10)', int)
  .option('--gc-finished-max-age-ms <ms>', 'how long a finished copy keeps its logs (default 86400000)', int)
  .option(
    '--allow-host-path <path>',
    'host path jobs may mount, with what lies under it; repeatable',
    collect,
  )
  .option('--device <path>', 'device to advertise besides the usual /dev patterns; repeatable', collect);

async function main(): Promise<void> {
  program.parse();
  const o = program.opts();
  const file = o.config ? { name: o.config as string, content: await readConfigFile(o.config) } : undefined;
  const joinToken = await joinTokenFromFlags({ token: o.joinToken, file: o.joinTokenFile });
  const config = resolveConfig({
    flags: {
      dataDir: o.dataDir,
      listen: o.listen,
      join: o.join,
      api: o.api,
      allowRemoteApi: o.allowRemoteApi,
      name: o.name,
      labels: o.label ? parseLabels(o.label, '--label') : undefined,
      logLevel: o.logLevel,
      driver: o.driver,
      dockerSocket: o.dockerSocket,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      suspectAfterMs: o.suspectAfterMs,
      lostAfterMs: o.lostAfterMs,
      targetPeers: o.targetPeers,
      maxConnections: o.maxConnections,
      joinToken: joinToken.token,
      registryListen: o.registryListen,
      registryCacheMb: o.registryCacheMb,
      gcFinishedPerJob: o.gcFinishedPerJob,
      gcFinishedMaxAgeMs: o.gcFinishedMaxAgeMs,
      allowHostPath: o.allowHostPath,
      device: o.device,
    },
    env: process.env,
    file,
  });
  const log = createLogger(config.logLevel, { node: config.name });
  // The join token holds the mesh key: never in a log.
  log.debug({ config: { ...config, joinToken: config.joinToken && '<redacted>' } }, 'configuration resolved');
  await prepareDataDir(config.dataDir);
  // Before the identity, the state or a port: a second agent on this dir must touch nothing. Held until exit.
  lockDataDir(config.dataDir);
  if (joinToken.warning) log.warn(joinToken.warning);
  const token = await loadOrCreateApiToken(config.dataDir, (message) => log.warn(message));
  const agent = await Agent.start(config, { log });
  const api = new ControlApi(agent.routes(), log, { token });
  try {
    // A closed mesh serves remote meshctl over libp2p: reaching this agent already took the mesh key.
    if (agent.mesh) await serveControlProtocol(agent.host, api, log);
    const bound = await api.listen(config.api, config.allowRemoteApi);
    log.info({ api: `http://${bound.host}:${bound.port}` }, 'control API listening');
  } catch (err) {
    await agent.stop();
    throw err;
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      log.error('shutdown took over 10 s; exiting anyway');
      process.exit(1);
    }, 10_000);
    let code = 0;
    try {
      await api.close();
      await leaveAndStop(agent);
    } catch (err) {
      log.error({ err: String(err) }, 'shutdown failed part-way');
      code = 1;
    }
    clearTimeout(deadline);
    log.flush();
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

async function readConfigFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read --config ${path}: ${(err as Error).message}`);
  }
  try {
    // Only agents started with --config pay for the YAML parser.
    const { parse } = await import('yaml');
    return parse(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid YAML: ${(err as Error).message}`);
  }
}

main().catch((err: unknown) => {
  const message =
    err instanceof ConfigError
      ? err.message
      : err instanceof StartupError
        ? `meshd: ${err.message}`
        : `meshd: ${(err as Error).stack ?? String(err)}`;
  process.stderr.write(`${message}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
