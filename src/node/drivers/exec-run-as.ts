/**
 * Running a plain process as another user with its groups. Node's spawn can set a uid and gid but clears the
 * supplementary groups (libuv calls setgroups(0)), and a serial port is usually reached through one (dialout),
 * so the process is started through util-linux's `setpriv`, which sets all three and then execs the command:
 * the pid, environment and launch id stay the process's own, as proc-record.ts needs.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DriverError } from './driver-error.js';

const run = promisify(execFile);

export interface RunAs {
  readonly uid: number;
  readonly gid: number;
  /** The user's own groups and the job's groupAdd, as ids or names (setpriv resolves names). */
  readonly groups: readonly string[];
}

async function id(flag: '-u' | '-g' | '-G', user: string): Promise<string | undefined> {
  try {
    return (await run('id', [flag, '--', user], { timeout: 5_000 })).stdout.trim();
  } catch {
    return undefined;
  }
}

/** A uid with no account keeps its number as its group, and only the job's groups. */
export async function resolveRunAs(user: string, groupAdd: readonly string[]): Promise<RunAs> {
  if (process.getuid?.() !== 0) {
    throw new DriverError(
      'unsupported',
      `the agent runs as uid ${process.getuid?.()} and cannot start a process as ${user}`,
      'run meshd as root to use user:, or drop user: from the job',
    );
  }
  const uid = await id('-u', user);
  if (uid === undefined && !/^[0-9]+$/.test(user)) {
    throw new DriverError(
      'invalid-task',
      `no user ${user} on this device`,
      'create the user, give a numeric uid, or constrain the job to devices that have it',
    );
  }
  const gid = uid === undefined ? user : ((await id('-g', user)) ?? user);
  const own = uid === undefined ? [] : ((await id('-G', user))?.split(/\s+/).filter(Boolean) ?? []);
  return { uid: Number(uid ?? user), gid: Number(gid), groups: [...new Set([...own, ...groupAdd])] };
}

/** The command line that runs `command args` as `who`. */
export function setprivArgs(who: RunAs, command: string, args: readonly string[]): string[] {
  const groups = who.groups.length > 0 ? `--groups=${who.groups.join(',')}` : '--clear-groups';
  return [`--reuid=${who.uid}`, `--regid=${who.gid}`, groups, '--', command, ...args];
}
