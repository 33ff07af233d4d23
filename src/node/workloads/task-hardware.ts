/** A job spec's storage and hardware fields as the driver takes them: only those the job sets. Pure. */
import type { JobSpec } from '../../crdt/job-spec.js';
import type { TaskHardware } from '../drivers/driver.js';

export function taskHardware(spec: JobSpec): TaskHardware {
  const { volumes, devices, user, groupAdd, privileged, capAdd, capDrop } = spec;
  const picked: TaskHardware = { volumes, devices, user, groupAdd, privileged, capAdd, capDrop };
  return Object.fromEntries(Object.entries(picked).filter(([, value]) => value !== undefined));
}
