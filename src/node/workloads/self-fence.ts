import type { Logger } from '../../lib/logger.js';
import type { Driver, DriverName } from '../drivers/driver.js';

/** A start already under way when fencing began may land after a pass looked; a few passes catch it. */
const PASSES = 3;
const GRACE_MS = 5_000;

/**
 * Self-fencing: stops every workload the drivers run for this node. A revoked device is cut off, so members
 * re-place its copies at once; had it kept them, the fleet would run more copies than asked (4 for count 3),
 * each holding ports, data and credentials the device may no longer be trusted with. The caller has already
 * stopped the reconciler, so nothing restarts what this stops. Returns how many workloads it stopped.
 */
export async function stopAllWorkloads(
  drivers: ReadonlyMap<DriverName, Driver>,
  log: Pick<Logger, 'warn'>,
): Promise<number> {
  let stopped = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    let found = 0;
    for (const [name, driver] of drivers) {
      const handles = await driver.list().catch((err: unknown) => {
        log.warn({ driver: name, err }, 'cannot list workloads to fence');
        return [];
      });
      for (const handle of handles) {
        found++;
        try {
          await driver.stop(handle.allocId, { graceMs: GRACE_MS });
          stopped++;
        } catch (err) {
          log.warn({ driver: name, allocId: handle.allocId, err }, 'cannot stop a workload while fencing');
        }
      }
    }
    if (found === 0) break;
  }
  return stopped;
}
