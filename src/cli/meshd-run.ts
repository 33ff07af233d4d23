import { existsSync } from 'node:fs';
import { createLogger } from '../lib/logger.js';
import { readRegularFile } from '../lib/regular-file.js';
import { Agent } from '../node/agent.js';
import { loadOrCreateApiToken } from '../node/api/api-token.js';
import { ControlApi } from '../node/api/control-api.js';
import { serveControlProtocol } from '../node/api/control-protocol.js';
import { startDns } from '../node/services/dns-start.js';
import { resolveConfig } from '../node/setup/config.js';
import { prepareDataDir } from '../node/setup/data-dir.js';
import { lockDataDir } from '../node/setup/data-dir-lock.js';
import { ConfigError, parseLabels } from '../node/setup/flag-values.js';
import { joinTokenFromFlags } from '../node/setup/join-token-source.js';
import { leaveAndStop } from './clean-stop.js';

/** meshd's flags as commander parsed them (src/cli/meshd.ts). */
export type AgentFlags = Record<string, unknown> & {
  config?: string;
  joinToken?: string;
  joinTokenFile?: string;
  label?: string[];
};

/** Starts the agent and its control API; exits the process on SIGINT/SIGTERM after a clean leave. */
export async function runAgent(o: AgentFlags): Promise<void> {
  const file = o.config ? { name: o.config, content: await readConfigFile(o.config) } : undefined;
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
      relay: o.relay,
      joinToken: joinToken.token,
      registryListen: o.registryListen,
      dnsListen: o.dnsListen,
      portRange: o.portRange,
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
  // A mistyped --device would otherwise only show as jobs that place nowhere.
  for (const device of config.device.filter((d) => !existsSync(d)))
    log.warn({ device }, `--device ${device} does not exist here: not offered to jobs until it does`);
  const token = await loadOrCreateApiToken(config.dataDir, (message) => log.warn(message));
  const agent = await Agent.start(config, { log });
  const api = new ControlApi(agent.routes(), log, { token, sessions: agent.browserSessions });
  api.addUpgrades(agent.upgrades());
  let dns: Awaited<ReturnType<typeof startDns>>;
  try {
    // A closed mesh serves remote meshctl over libp2p: reaching this agent already took the mesh key.
    if (agent.mesh) await serveControlProtocol(agent.host, api, log);
    // Before the API: once "control API listening" is logged, DNS answers too.
    dns = await startDns(agent.catalog, config.dnsListen, log);
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
      await dns?.close();
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

/** Settings and labels fit in a few KiB; the bound keeps a wrong path (a log, a device) from being read whole. */
const MAX_CONFIG_FILE_BYTES = 64 * 1024;

async function readConfigFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readRegularFile(path, {
      what: 'config file',
      hint: 'the path of a YAML file of meshd settings',
      maxBytes: MAX_CONFIG_FILE_BYTES,
    });
  } catch (err) {
    throw new ConfigError(`--config: ${(err as Error).message}`);
  }
  try {
    // Only agents started with --config pay for the YAML parser.
    const { parse } = await import('../lib/yaml-text.js');
    return parse(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid YAML: ${(err as Error).message}`);
  }
}
