/** `meshd --driver docker|exec|auto|none`: which drivers this node offers to the scheduler. */
import type { DriverName } from './driver.js';
import { DriverError } from './driver-error.js';

/** `none`: a relay-only agent (a gateway, a test) that replicates state and places work but runs none. */
export type DriverMode = DriverName | 'auto' | 'none';

export function driversFor(mode: DriverMode, dockerAnswers: boolean): DriverName[] {
  switch (mode) {
    case 'none':
      return [];
    case 'exec':
      return ['exec'];
    case 'docker':
      if (!dockerAnswers) {
        throw new DriverError(
          'engine-unreachable',
          '--driver docker was asked for but no Docker Engine answers',
          'start dockerd, point --docker-socket at its socket, or use --driver auto to fall back to exec',
        );
      }
      return ['docker'];
    case 'auto':
      // exec needs nothing but a kernel, so every node offers it.
      return dockerAnswers ? ['docker', 'exec'] : ['exec'];
  }
}
