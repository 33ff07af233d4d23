import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { fsCause } from '../../lib/fs-cause.js';
import { StartupError } from '../../lib/startup-error.js';

/**
 * Makes `path` a directory (mode 0700 when created) or says in one line why it cannot be: `mkdir -p` on a path
 * that is a file answers a bare EEXIST that names neither the path nor the fix.
 */
export async function ensureDirectory(path: string, what: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true, mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new StartupError(
        `${what} ${path} is a file, not a directory: move it away, or choose another --data-dir`,
        { cause: err },
      );
    }
    throw new StartupError(`cannot create ${what} ${path}: ${fsCause(err)}`, { cause: err });
  }
  const info = await stat(path);
  if (!info.isDirectory()) {
    throw new StartupError(`${what} ${path} is not a directory: move it away, or choose another --data-dir`);
  }
}

/**
 * The data dir must exist and be writable before anything is read from it: an agent that cannot write its state
 * cannot acknowledge a job, and a read-only dir would otherwise surface as a confusing error from whichever file
 * is written first.
 */
export async function prepareDataDir(dataDir: string): Promise<void> {
  await ensureDirectory(dataDir, 'data dir');
  try {
    await access(dataDir, constants.W_OK);
  } catch (err) {
    throw new StartupError(
      `data dir ${dataDir} is not writable: ${fsCause(err)}. meshd keeps its state there: ` +
        'make it writable (remount read-write, fix its owner) or choose another --data-dir',
      { cause: err },
    );
  }
}
