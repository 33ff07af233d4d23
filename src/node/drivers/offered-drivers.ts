import type { Logger } from '../../lib/logger.js';
import type { AgentConfig } from '../setup/config.js';
import { probeDocker } from './docker-probe.js';
import type { DriverName } from './driver.js';
import { driversFor } from './driver-selection.js';

/** The drivers this node's record offers to placement: what the configuration allows and the machine answers. */
export async function offeredDrivers(config: AgentConfig, log: Logger): Promise<DriverName[]> {
  const dockerAnswers =
    config.driver === 'exec' || config.driver === 'none' ? false : await probeDocker(config.dockerSocket);
  try {
    return driversFor(config.driver, dockerAnswers);
  } catch (err) {
    // The runtime side refuses to run without Docker; the record says honestly that this node offers nothing.
    log.warn({ err }, 'no workload driver to offer');
    return [];
  }
}
