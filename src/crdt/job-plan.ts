/**
 * The next event of a job, planned from the events that count and left unsigned: in a closed mesh an operator
 * signs it (job-auth.ts) before MeshState commits it.
 */
import { canonicalJson, type JsonValue } from './canonical-json.js';
import { deriveJob, type JobEvent, type JobView, type KeyedEvent, nextSeq, nextVersion } from './job-log.js';
import type { JobSpec } from './job-spec.js';

export type SubmitOutcome = 'created' | 'updated' | 'started' | 'unchanged';
export type StatusOutcome = 'changed' | 'unchanged' | 'not-found';

/**
 * A submit (a new spec), a start (the current spec, stopped), or no event when the job already runs it. `spec` is
 * stored as canonical JSON: a normalised `JobSpec` (what agents submit) or any JSON value (read back by job-specs).
 */
export function planSubmitEvent(
  name: string,
  events: readonly KeyedEvent[],
  spec: JsonValue | JobSpec,
  by: string,
  now: number,
): { outcome: SubmitOutcome; version: number; event?: JobEvent } {
  const view = deriveJob(name, events);
  const specText = canonicalJson(spec);
  const base = { seq: nextSeq(events), at: now, by };
  if (view && canonicalJson(view.current.spec) === specText) {
    if (view.desired === 'running') return { outcome: 'unchanged', version: view.current.version };
    return { outcome: 'started', version: view.current.version, event: { kind: 'start', ...base } };
  }
  const version = nextVersion(events);
  const event: JobEvent = { kind: 'submit', ...base, version, spec: specText };
  return { outcome: view ? 'updated' : 'created', version, event };
}

/** Changes of a job that carry no spec: its desired status, or the promotion of its current version. */
export type StatusKind = 'stop' | 'purge' | 'promote';

/**
 * The stop, purge or promote event; none when the job is missing (`view` undefined), already stopped, or its
 * current version already promoted.
 */
export function planStatusEvent(
  view: JobView | undefined,
  events: readonly KeyedEvent[],
  kind: StatusKind,
  by: string,
  now: number,
): { outcome: StatusOutcome; event?: JobEvent } {
  if (!view) return { outcome: 'not-found' };
  if (kind === 'stop' && view.desired === 'stopped') return { outcome: 'unchanged' };
  const current = view.current.version;
  if (kind === 'promote' && view.promoted?.includes(current)) return { outcome: 'unchanged' };
  const base = { seq: nextSeq(events), at: now, by };
  const event: JobEvent =
    kind === 'stop'
      ? { kind: 'stop', ...base }
      : kind === 'promote'
        ? { kind: 'promote', ...base, version: current }
        : { kind: 'purge', ...base, version: nextVersion(events) - 1 };
  return { outcome: 'changed', event };
}
