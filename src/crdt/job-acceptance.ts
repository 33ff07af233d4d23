/**
 * Which of a job's events count: all of them in an open mesh; in a closed one the events a trusted operator
 * signed (job-auth.ts). The newest event that does not count is the job's rejection (`job status`).
 */
import { jobEventRejection } from './job-auth.js';
import { compareEvents, type KeyedEvent } from './job-log.js';

/** Why a job's newest event does not count (a closed mesh): what `job status` shows as `rejected`. */
export interface JobRejection {
  readonly name: string;
  readonly reason: string;
  readonly at: number;
  readonly by: string;
}

export interface SplitEvents {
  readonly accepted: KeyedEvent[];
  readonly rejected: [KeyedEvent, string][];
}

/** `operators` undefined: an open mesh, where every event counts. */
export function splitJobEvents(
  name: string,
  all: KeyedEvent[],
  operators: ReadonlySet<string> | undefined,
): SplitEvents {
  if (!operators) return { accepted: all, rejected: [] };
  const accepted: KeyedEvent[] = [];
  const rejected: [KeyedEvent, string][] = [];
  for (const e of all) {
    const reason = jobEventRejection(name, e.event, operators);
    if (reason) rejected.push([e, reason]);
    else accepted.push(e);
  }
  return { accepted, rejected };
}

/**
 * The rejection `job status` shows: of the refused events not older than the newest accepted one, the latest
 * by wall-clock time. `note` hears about every refused event.
 */
export function jobRejectionOf(
  name: string,
  { accepted, rejected }: SplitEvents,
  note: (e: KeyedEvent, reason: string) => void,
): JobRejection | undefined {
  const newest = accepted.reduce<KeyedEvent | undefined>(
    (max, e) => (max && compareEvents(max, e) >= 0 ? max : e),
    undefined,
  );
  let rejection: JobRejection | undefined;
  for (const [e, reason] of rejected) {
    note(e, reason);
    if (newest && compareEvents(e, newest) < 0) continue;
    if (!rejection || e.event.at >= rejection.at)
      rejection = { name, reason, at: e.event.at, by: e.event.by };
  }
  return rejection;
}
