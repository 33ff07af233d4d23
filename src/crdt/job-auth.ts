import type { JobEvent } from './job-log.js';
import { type Sign, signValue, verifyValue } from './signature.js';

/**
 * Operator signatures on job events. The signature covers the job's name and the whole event except the
 * signature itself (its kind, seq, version, time and canonical spec), so a signed event can be neither edited
 * nor moved to another job; replaying it adds nothing, since events are stored under the hash of their content.
 */
export const JOB_EVENT_DOMAIN = 'job-event';

function payload(job: string, event: JobEvent): unknown {
  const { auth: _auth, ...unsigned } = event;
  return { job, event: unsigned };
}

export function signJobEvent(job: string, event: JobEvent, signer: string, sign: Sign): JobEvent {
  return { ...event, auth: signValue(JOB_EVENT_DOMAIN, payload(job, event), signer, sign) };
}

/** Why the event does not count in a mesh trusting `operators`; undefined when it does. */
export function jobEventRejection(
  job: string,
  event: JobEvent,
  operators: ReadonlySet<string>,
): string | undefined {
  if (!event.auth) return 'not signed by an operator';
  if (!operators.has(event.auth.signer)) return `signer ${event.auth.signer} is not a trusted operator`;
  if (!verifyValue(JOB_EVENT_DOMAIN, payload(job, event), event.auth)) return 'forged signature';
  return undefined;
}
