import { join } from 'node:path';
import { waitFor } from './agents.js';
import { type CliResult, meshctl, spawnMeshd } from './processes.js';

/** The address meshd logs once its control API listens ("control API listening"). */
export const API_LOG_LINE = /"api":"(http:\/\/127\.0\.0\.1:\d+)"/;

export interface LocalMeshd {
  readonly agent: ReturnType<typeof spawnMeshd>;
  /** Control API base URL, read from the agent's log. */
  readonly api: string;
  /** meshctl against this agent, with its data dir for the API token. */
  ctl(...args: string[]): Promise<CliResult>;
}

/**
 * One `dist/meshd.mjs` on loopback for the meshctl tests: libp2p and the control API on port 0, so concurrent
 * runs never collide; `args` are added, `nodeFlags` go to node before the bundle. Resolves once the API
 * listens; the caller stops the agent.
 */
export async function startLocalMeshd(
  dataDir: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
  nodeFlags: string[] = [],
): Promise<LocalMeshd> {
  const agent = spawnMeshd(
    ['--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', ...args],
    env,
    nodeFlags,
  );
  let api = '';
  try {
    await waitFor(
      'the control API address in the log',
      () => {
        api = API_LOG_LINE.exec(agent.output())?.[1] ?? '';
        return api !== '';
      },
      15_000,
      () => `meshd said: ${agent.output().slice(-2_000)}`,
    );
  } catch (err) {
    agent.kill('SIGTERM');
    throw err;
  }
  return { agent, api, ctl: (...more) => meshctl(['--api', api, '--data-dir', dataDir, ...more]) };
}

export interface ClosedMesh {
  /** The mesh directory `meshctl mesh init` wrote. */
  readonly meshDir: string;
  /** The operator key in it, for `--operator-key`. */
  readonly key: string;
  /** What `meshctl mesh init` answered. */
  readonly init: CliResult;
  /** A join token for this mesh naming `bootstrap` (by default a loopback port nobody listens on). */
  tokenFor(bootstrap?: string): Promise<string>;
}

/** A closed mesh made by real meshctl under `root`/mesh: operator key, PSK and join tokens. */
export async function closedMesh(root: string): Promise<ClosedMesh> {
  const meshDir = join(root, 'mesh');
  const init = await meshctl(['mesh', 'init', '--dir', meshDir]);
  return {
    meshDir,
    key: join(meshDir, 'operator.key'),
    init,
    tokenFor: async (bootstrap = '/ip4/127.0.0.1/tcp/4999') =>
      (await meshctl(['mesh', 'join-token', '--dir', meshDir, '--bootstrap', bootstrap])).stdout.trim(),
  };
}
