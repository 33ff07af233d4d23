/**
 * A task's volumes as host directories, made ready before the workload starts. Named volumes live in
 * `<dataDir>/volumes/<job>/<name>`: per job and per device, outside any copy's own directory, so a later copy of
 * the job on this device (a restart, a new version, a replacement) finds the data; they stay until the operator
 * deletes them. Host paths must lie under a prefix the operator allows (`--allow-host-path`), checked again here
 * on the path as the kernel resolves it: placement checked the path as written, and a symlink under an allowed
 * prefix must not lead out of it. A directory made for a job that runs as another user is that user's.
 */
import { chmod, chown, lstat, mkdir, realpath, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isUnder } from '../../lib/host-path.js';
import type { VolumeMount } from './driver.js';
import { DriverError } from './driver-error.js';

export interface HostMount {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

export interface MountContext {
  readonly dataDir: string;
  readonly allowHostPath: readonly string[];
  /**
   * Who the workload runs as, when not the agent: named volumes are made its own (gid -1 keeps the group).
   * `throughDataDir`: the workload reaches the volume by its host path (exec), not through a mount (docker).
   */
  readonly runAs?:
    | { readonly uid: number; readonly gid: number; readonly throughDataDir: boolean }
    | undefined;
}

export function volumeDir(dataDir: string, job: string, name: string): string {
  return join(dataDir, 'volumes', job, name);
}

export async function prepareMounts(
  job: string,
  volumes: readonly VolumeMount[],
  ctx: MountContext,
): Promise<HostMount[]> {
  const mounts: HostMount[] = [];
  for (const v of volumes) {
    const source =
      v.name === undefined ? await allowedHostPath(v.source ?? '', ctx) : await namedVolume(job, v.name, ctx);
    mounts.push({ source, target: v.target, readOnly: v.readOnly === true });
  }
  return mounts;
}

async function namedVolume(job: string, name: string, ctx: MountContext): Promise<string> {
  const dir = volumeDir(ctx.dataDir, job, name);
  await mkdir(dir, { recursive: true, mode: 0o755 }).catch((err: unknown) => {
    throw ioError(`cannot create volume ${name} at ${dir}`, err);
  });
  const { runAs } = ctx;
  if (runAs === undefined) return dir;
  try {
    if (runAs.throughDataDir) {
      // Another user must pass through the data dir (mode 0700) to reach its volume: search only, no listing,
      // and every secret in it keeps its own 0600.
      for (const path of [ctx.dataDir, join(ctx.dataDir, 'volumes'), join(ctx.dataDir, 'volumes', job)]) {
        const mode = (await stat(path)).mode & 0o7777;
        if ((mode & 0o011) !== 0o011) await chmod(path, mode | 0o011);
      }
    }
    await chown(dir, runAs.uid, runAs.gid);
  } catch (err) {
    throw ioError(`cannot give volume ${name} at ${dir} to uid ${runAs.uid}`, err);
  }
  return dir;
}

async function allowedHostPath(source: string, ctx: MountContext): Promise<string> {
  const prefix = ctx.allowHostPath.find((p) => isUnder(source, p));
  if (prefix === undefined) {
    throw new DriverError(
      'invalid-task',
      `host path ${source} is not allowed on this device`,
      'the operator allows host paths with meshd --allow-host-path',
    );
  }
  // A missing directory is made, as `docker run -v` does: the allowed prefix is the operator's consent. What
  // exists (a file such as a socket, too) is mounted as it is. Nothing is created through a symlink that leads
  // out of the prefix: the part that exists is checked first.
  try {
    const existing = await existingAncestor(source);
    if (existing !== prefix && isUnder(existing, prefix)) await checkInside(source, existing, prefix);
    const created = existing !== source;
    if (created) await mkdir(source, { recursive: true });
    const real = await checkInside(source, source, prefix);
    // A directory made for the job is the job's, as a named volume is: its user could not write to it otherwise.
    // What already existed keeps its owner; the operator decided who may write there.
    if (created && ctx.runAs !== undefined) await chown(real, ctx.runAs.uid, ctx.runAs.gid);
    return real;
  } catch (err) {
    throw err instanceof DriverError ? err : ioError(`cannot prepare host path ${source}`, err);
  }
}

async function existingAncestor(path: string): Promise<string> {
  let at = path;
  while ((await lstat(at).catch(() => undefined)) === undefined && at !== '/') at = dirname(at);
  return at;
}

/** `path` as the kernel resolves it, when that is still under the allowed `prefix` (resolved too). */
async function checkInside(source: string, path: string, prefix: string): Promise<string> {
  const real = await realpath(path);
  const realPrefix = await realpath(prefix).catch(() => prefix);
  if (!isUnder(real, realPrefix)) {
    throw new DriverError(
      'invalid-task',
      `host path ${source} leads to ${real}, outside the allowed ${prefix}`,
      'a symlink under an allowed path must not point out of it',
    );
  }
  return real;
}

function ioError(message: string, err: unknown): DriverError {
  const reason = (err as NodeJS.ErrnoException).code ?? String(err);
  return new DriverError('io', `${message} (${reason})`, 'check the data dir is writable and has space', {
    cause: err,
  });
}
