/**
 * One agent per data dir. Two agents on one dir share an identity: each kills the other's copies and the mesh
 * sees one node flap, so the second must refuse before it reads or writes anything.
 *
 * The lock is flock(2) on `<data-dir>/meshd.lock`, which the kernel drops when the holder's last descriptor
 * closes, so a crash or kill -9 never leaves a stale lock and no pid-reuse or mtime heuristic is needed. Node has
 * no flock binding and a native add-on would need a compiler on every device, so the descriptor is handed to
 * flock(1) (util-linux, or busybox's applet): it locks the open file description it shares with this process and
 * exits; the lock stays with our descriptor. Node opens files close-on-exec, so workloads the exec driver starts
 * do not inherit the descriptor and cannot keep the lock past the agent.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fsCause } from '../../lib/fs-cause.js';
import { StartupError } from '../../lib/startup-error.js';

export const LOCK_FILE = 'meshd.lock';

export interface DataDirLock {
  readonly path: string;
  /** Drops the lock; the process exiting does the same. */
  release(): void;
}

/** Takes the data dir's lock or throws a one-line `StartupError` naming the dir and the pid that holds it. */
export function lockDataDir(dataDir: string, flock = 'flock'): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  let fd: number;
  try {
    // Created if missing ('a' neither truncates nor replaces: a refused agent leaves the holder's pid in place),
    // then held read-only: flock(2) needs no write access, and a descriptor open for writing for the agent's
    // whole life would keep the data dir's file system from being remounted read-only.
    closeSync(openSync(path, 'a', 0o600));
    fd = openSync(path, 'r');
  } catch (err) {
    throw new StartupError(`cannot open the data dir lock ${path}: ${fsCause(err)}`, { cause: err });
  }
  const result = spawnSync(flock, ['-x', '-n', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
  if (result.error !== undefined || result.status !== 0) {
    closeSync(fd);
    if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new StartupError(
        `cannot lock the data dir ${dataDir}: no \`${flock}\` command on this device; ` +
          'install util-linux (or busybox with its flock applet)',
      );
    }
    // util-linux and busybox both exit 1 on a held lock and on a failing flock(2) (ENOLCK on some network and
    // FUSE file systems); only the failure prints a reason.
    const said = String(result.stderr ?? '').trim();
    if (result.status === 1 && said === '') {
      throw new StartupError(
        `data dir ${dataDir} is in use by another meshd (${holder(path)}): ` +
          'stop that agent, or give this one another --data-dir',
      );
    }
    const why = result.error?.message ?? (said || `exit ${result.status}`);
    throw new StartupError(`cannot lock the data dir ${dataDir}: ${flock} failed: ${why}`);
  }
  // Only the holder writes: for the next agent's refusal and for an operator's `cat`.
  writeFileSync(path, `${process.pid}\n`, { mode: 0o600 });
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      closeSync(fd);
    },
  };
}

function holder(path: string): string {
  try {
    const pid = readFileSync(path, 'utf8').trim();
    // The holder writes its pid right after locking; an empty file means we read in between.
    return /^\d+$/.test(pid) ? `pid ${pid}` : 'pid not yet written';
  } catch {
    return 'pid unknown';
  }
}
