import { expect } from 'vitest';
import { type JobSpecIssue, validateJobSpec } from '../../src/crdt/job-spec.js';

/** The spec of a job file the test expects to be valid; throws with the issues otherwise. */
export function specOf(input: unknown) {
  const result = validateJobSpec(input);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.spec;
}

/** The job file is refused with an issue at `path` whose message matches. */
export function expectIssue(input: unknown, path: (string | number)[], message: string | RegExp): void {
  const result = validateJobSpec(input);
  if (result.ok) throw new Error('expected the spec to be rejected');
  const issues: JobSpecIssue[] = result.issues;
  const match = issues.find((issue) => JSON.stringify(issue.path) === JSON.stringify(path));
  expect(match, JSON.stringify(issues)).toBeDefined();
  expect(match?.message).toMatch(message);
}
