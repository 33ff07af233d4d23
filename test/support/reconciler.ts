import type { JobSpec, JobSpecInput } from '../../src/crdt/job-spec.js';
import { validateJobSpec } from '../../src/crdt/job-spec.js';
import { allocId } from '../../src/scheduler/alloc-id.js';
import type { DesiredAlloc, Plan } from '../../src/scheduler/types.js';

/** An exec job whose process is `sh -c <script>`, with the spec's defaults filled in. */
export function shJobSpec(input: Partial<JobSpecInput> & { script: string }): JobSpec {
  const { script, ...rest } = input;
  const result = validateJobSpec({
    name: 'web',
    driver: 'exec',
    command: 'sh',
    args: ['-c', script],
    ...rest,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.spec;
}

/** Slot `slot` of version 1 of `job`, desired on `node`. */
export function desiredAlloc(job: string, slot: number, node: string): DesiredAlloc {
  return {
    allocId: allocId(job, 1, slot, 0, node),
    job,
    jobVersion: 1,
    slot,
    generation: 0,
    node,
    status: 'run',
    score: 0,
  };
}

export const startPlan = (...start: DesiredAlloc[]): Plan => ({ start, stop: [], keep: [] });
