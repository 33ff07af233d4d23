import { join } from 'node:path';
import type { Command } from 'commander';
import { readSecretFile, readSecretFileIfExists } from '../lib/secret-file.js';
import { API_TOKEN_FILE } from '../node/api/client.js';
import { type ApiClient, apiClient, CliError } from './api-client.js';
import type { OutputFormat } from './output.js';

export interface Globals {
  api: string;
  output: OutputFormat;
  /** Absent in programs that do not declare it (tests build their own): meshd's default then. */
  dataDir?: string;
  tokenFile?: string;
  operatorKey?: string;
  remoteToken?: string;
}

/** The options every meshctl command shares: where the agent is, how to prove we may talk to it, how to print. */
export function globals(cmd: Command): { client: ApiClient; format: OutputFormat; operatorKey?: string } {
  const opts = cmd.optsWithGlobals<Globals>();
  return {
    client: opts.remoteToken ? lazyRemote(opts.remoteToken) : apiClient(opts.api, () => apiToken(opts)),
    format: opts.output,
    operatorKey: opts.operatorKey,
  };
}

/** The light-peer client pulls in libp2p: loaded only by a command that talks to a remote mesh. */
function lazyRemote(token: string): ApiClient {
  const client = import('./remote-client.js').then((m) => m.remoteClient(token));
  client.catch(() => {});
  return {
    get: async (path) => (await client).get(path),
    post: async (path, body) => (await client).post(path, body),
    delete: async (path) => (await client).delete(path),
    stream: async (path, signal) => (await client).stream(path, signal),
  };
}

/** MESH_API_TOKEN, else --token-file, else `<data dir>/api.token` of an agent on this device. */
export async function apiToken(opts: Globals): Promise<string | undefined> {
  const fromEnv = process.env.MESH_API_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  try {
    if (opts.tokenFile) return (await readSecretFile(opts.tokenFile, 'API token')).toString('utf8').trim();
    // No token file where the default says: the agent's answer tells the operator where to find one.
    const path = join(opts.dataDir ?? './mesh-data', API_TOKEN_FILE);
    return (await readSecretFileIfExists(path, 'API token'))?.toString('utf8').trim();
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}
