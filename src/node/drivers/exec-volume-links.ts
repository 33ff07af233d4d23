/**
 * Volumes for plain processes. A process on the host has no mount namespace of its own, so a volume cannot
 * appear at its target path; instead the target names a link in the work directory (`MYCEL_ALLOC_DIR`, the
 * process's working directory): target `/data` is the link `./data`, `/var/cache/app` is `./var/cache/app`.
 * Read-only volumes are refused by validation, since a link cannot make anything read-only.
 */
import { lstat, mkdir, rm, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DriverError } from './driver-error.js';
import type { HostMount } from './host-mounts.js';

/** What the driver keeps in the work dir (proc-record.ts, log-rotation.ts), with their temporary and rotated names. */
const KEPT = /^(proc\.json|std(out|err)\.log)(\..*)?$/;

export async function linkVolumes(workDir: string, mounts: readonly HostMount[]): Promise<void> {
  for (const mount of mounts) {
    const link = join(workDir, mount.target.slice(1));
    const existing = await lstat(link).catch(() => undefined);
    if (
      KEPT.test(mount.target.split('/')[1] ?? '') ||
      (existing !== undefined && !existing.isSymbolicLink())
    ) {
      throw new DriverError(
        'invalid-task',
        `volume target ${mount.target} would replace ${link}, which the driver keeps there`,
        'choose another target (the work dir holds proc.json and the logs)',
      );
    }
    await mkdir(dirname(link), { recursive: true });
    // A link from an earlier run of the copy may point at an older source.
    if (existing !== undefined) await rm(link);
    await symlink(mount.source, link, 'dir');
  }
}
