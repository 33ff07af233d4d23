import { expect } from 'vitest';
import {
  formatJobFileErrors,
  type JobFileError,
  type JobFileResult,
  parseJobFile,
} from '../../src/crdt/job-file.js';

export function errorsOf(text: string, fileName?: string): JobFileError[] {
  const result = parseJobFile(text, fileName);
  if (result.ok) throw new Error('expected errors');
  return result.errors;
}

export function specOf(text: string, fileName?: string) {
  const result = parseJobFile(text, fileName);
  if (!result.ok) throw new Error(formatJobFileErrors(result.errors, fileName ?? 'job.yaml'));
  return result.spec;
}

/** Every error position is a real place in the text: 1-based, on an existing line, at most one past its end. */
export function expectPositionsInside(result: JobFileResult, text: string) {
  if (result.ok) return;
  expect(result.errors.length).toBeGreaterThan(0);
  const lines = text.split('\n');
  for (const { line, column, message } of result.errors) {
    expect(message.length).toBeGreaterThan(0);
    expect(line).toBeGreaterThanOrEqual(1);
    expect(line).toBeLessThanOrEqual(lines.length);
    expect(column).toBeGreaterThanOrEqual(1);
    expect(column).toBeLessThanOrEqual((lines[line - 1]?.length ?? 0) + 1);
  }
}
