import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm, rmdir, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real, small tmpfs (needs root): a data dir that fills up for real, without filling the machine's disk. */
export interface SmallDisk {
  readonly path: string;
  /** Removes everything on it, for the next test. */
  clear(): Promise<void>;
  unmount(): Promise<void>;
}

export async function mountSmallDisk(size: string): Promise<SmallDisk> {
  const path = await mkdtemp(join(tmpdir(), 'mycel-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path]);
  return {
    path,
    clear: async () => {
      for (const name of await readdir(path)) await rm(join(path, name), { recursive: true, force: true });
    },
    unmount: async () => {
      // Lazy: a test that failed may still hold files open there, and the mount must not outlive the run.
      execFileSync('umount', ['-l', path]);
      await rmdir(path);
    },
  };
}

export async function freeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize;
}

/** What the agent's state writes need: a file written and fsynced in `dir`. */
export async function writeStateFile(dir: string, bytes: number): Promise<void> {
  const file = await open(join(dir, 'state.bin'), 'w');
  try {
    // writeFile goes on after a short write, so a full disk fails here instead of writing less.
    await file.writeFile(randomBytes(bytes));
    await file.sync();
  } finally {
    await file.close();
  }
}
