/**
 * The one way from a stored job version to a typed `JobSpec`. A submit event stores the spec normalised (a
 * `JobSpec` as canonical JSON), but stored specs come from peers: a newer agent may have written a field this
 * one does not know, and a hostile or broken one anything at all. Reading validates the stored value through the
 * user-facing form (`jobSpecToInput` then `validateJobSpec`) and answers with a `Result`: an unreadable spec is
 * an error value naming what is wrong, never a throw and never an untyped value.
 */
import { err, ok, type Result } from '../lib/result.js';
import type { JobVersion, JobView } from './job-log.js';
import { type JobSpec, jobSpecToInput, validateJobSpec } from './job-spec.js';

/** `{ ok: true, value: JobSpec }`, or `{ ok: false, error }` when this agent cannot read the stored spec. */
export type JobSpecRead = Result<JobSpec>;

export function readJobSpec(version: Pick<JobVersion, 'spec'>): JobSpecRead {
  let result: ReturnType<typeof validateJobSpec>;
  try {
    // The stored value is only claimed to be a JobSpec: validation below is what makes it one.
    result = validateJobSpec(jobSpecToInput(version.spec as unknown as JobSpec));
  } catch (e) {
    return err(`unreadable spec: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (result.ok) return ok(result.spec);
  return err(result.issues.map((i) => `${i.path.join('.') || '(spec)'}: ${i.message}`).join('; '));
}

/**
 * Version `version` of a job as the job log ranks it: history is newest first, so of concurrent submissions
 * that share a number the one that ranks first (the one `current` would be). Undefined when it is not held.
 */
export function jobVersion(view: JobView | undefined, version: number): JobVersion | undefined {
  return view?.history.find((v) => v.version === version);
}

/**
 * `readJobSpec` validated once per spec content (`specHash`): validating costs more than placing. Whoever reads
 * every spec in use once per round (placement) calls `forgetUnread` each round, so specs nobody reads any more
 * are dropped.
 */
export class JobSpecs {
  #cache = new Map<string, JobSpecRead>();
  #read = new Map<string, JobSpecRead>();

  read(version: JobVersion): JobSpecRead {
    let spec = this.#read.get(version.specHash) ?? this.#cache.get(version.specHash);
    if (spec === undefined) spec = readJobSpec(version);
    this.#read.set(version.specHash, spec);
    return spec;
  }

  /** The spec of version `version` of the job (`jobVersion`); an error when the view does not hold it. */
  at(view: JobView | undefined, version: number): JobSpecRead {
    const entry = jobVersion(view, version);
    if (entry) return this.read(entry);
    return err(view ? `job "${view.name}" has no version ${version}` : `no such job`);
  }

  /** Forgets the specs not read since the previous call. */
  forgetUnread(): void {
    this.#cache = this.#read;
    this.#read = new Map();
  }
}
