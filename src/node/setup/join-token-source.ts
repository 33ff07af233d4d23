/**
 * Where meshd's join token came from. The token holds the mesh key, and a command line is readable by every local
 * user (`ps`, /proc/<pid>/cmdline), so a file or MESH_JOIN_TOKEN (readable by the same user and root only) is the
 * way to pass it; argv still works, with a warning.
 */
import { readFile } from 'node:fs/promises';
import { fsCause } from '../../lib/fs-cause.js';
import { decodeJoinToken } from '../membership/join-token.js';
import { ConfigError } from './flag-values.js';

export interface JoinTokenFlags {
  /** `--join-token TOKEN` */
  readonly token?: string | undefined;
  /** `--join-token-file PATH` */
  readonly file?: string | undefined;
}

export interface JoinTokenFromFlags {
  /** For the flag layer of the configuration; undefined leaves MESH_JOIN_TOKEN, the config file or mesh.token. */
  readonly token: string | undefined;
  /** Said once the logger exists: the token is visible to every local user. */
  readonly warning?: string;
}

export const ARGV_TOKEN_WARNING =
  'the join token was given with --join-token, so every user on this device can read the mesh key in `ps`: ' +
  'pass it with --join-token-file or MESH_JOIN_TOKEN instead (after a first start it is kept in the data dir, ' +
  'and needs passing no more)';

export async function joinTokenFromFlags(flags: JoinTokenFlags): Promise<JoinTokenFromFlags> {
  if (flags.token !== undefined && flags.file !== undefined) {
    throw new ConfigError('give --join-token or --join-token-file, not both');
  }
  if (flags.token !== undefined) return { token: flags.token, warning: ARGV_TOKEN_WARNING };
  if (flags.file === undefined) return { token: undefined };
  let text: string;
  try {
    text = await readFile(flags.file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read --join-token-file ${flags.file}: ${fsCause(err)}`);
  }
  const token = text.trim();
  if (token === '') {
    throw new ConfigError(
      `--join-token-file ${flags.file} is empty: put the output of \`meshctl mesh join-token\` in it`,
    );
  }
  // Checked here too, so the error names the file rather than --join-token / MESH_JOIN_TOKEN.
  const decoded = decodeJoinToken(token);
  if (!decoded.ok) throw new ConfigError(`--join-token-file ${flags.file}: ${decoded.error}`);
  return { token };
}
