/** A job's score on one node as the node stands: fit, affinity, anti-affinity and the reschedule penalty. */
import type { Usage } from './capacity.js';
import type { NodeInfo } from './node-table.js';
import { affinityScore, finalScore, fitScore } from './score.js';
import type { SchedJob } from './types.js';

/** `extra` is what the copy being scored adds to the node's usage (0 when it is already counted). */
export function nodeScore(
  job: SchedJob,
  info: NodeInfo,
  usage: Usage,
  collisions: number,
  penalised: boolean,
  extra: 0 | 1,
): number {
  const fit = fitScore(
    job.scheduling?.algorithm ?? 'binpack',
    info.capCpu,
    info.capMemory,
    usage.cpu[info.index]! + extra * job.resources.cpu,
    usage.memory[info.index]! + extra * job.resources.memory,
  );
  const affinity = job.affinities === undefined ? 0 : affinityScore(job.affinities, info.node);
  return finalScore(fit, affinity, collisions, job.count, penalised);
}
