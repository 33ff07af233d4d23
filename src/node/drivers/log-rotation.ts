/**
 * Copy-truncate rotation for logs that a detached process writes through its own O_APPEND descriptor. The
 * process must keep logging while no agent runs, so the agent cannot sit in the pipe; it cannot rename the
 * file either, because the process would keep writing to the renamed inode. Copying then truncating keeps the
 * path stable and O_APPEND makes the writer continue at the new end. The price: lines written between the copy
 * and the truncate are lost, and between two checks a fast writer can overshoot the cap by what it writes in
 * one interval. While no agent runs nothing rotates; the adopting agent catches up on its first pass.
 */
import { copyFile, rename, stat, truncate } from 'node:fs/promises';

export interface RotationPolicy {
  /** Size beyond which the live file is rotated. */
  readonly maxBytes: number;
  /** Files kept in all, the live one included (`x.log`, `x.log.1`, … `x.log.<maxFiles-1>`). */
  readonly maxFiles: number;
}

export const DEFAULT_ROTATION: RotationPolicy = { maxBytes: 1024 * 1024, maxFiles: 2 };

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Rotates `path` when it is over the cap; answers whether it did. */
export async function rotateIfOver(path: string, policy: RotationPolicy): Promise<boolean> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
  if (size <= policy.maxBytes) return false;
  for (let k = policy.maxFiles - 1; k >= 2; k--) {
    await rename(`${path}.${k - 1}`, `${path}.${k}`).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });
  }
  if (policy.maxFiles >= 2) await copyFile(path, `${path}.1`);
  await truncate(path, 0);
  return true;
}
