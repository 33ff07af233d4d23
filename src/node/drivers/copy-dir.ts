/**
 * Where a copy's own files live on the host, which its rendered templates go into (workloads/copy-templates.ts):
 * an exec copy's directory (its working directory and MYCEL_ALLOC_DIR, also holding its logs and the exec
 * driver's record); for a docker copy a directory of its own, mounted read-only at CONTAINER_COPY_DIR.
 */
import { join } from 'node:path';
import type { DriverName } from './driver.js';

export const CONTAINER_COPY_DIR = '/mycel';

export function copyDir(dataDir: string, driver: DriverName, allocId: string): string {
  return join(dataDir, driver === 'exec' ? 'alloc' : 'templates', allocId);
}
