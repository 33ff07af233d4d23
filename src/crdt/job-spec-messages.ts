/** The words of job spec errors: what a user reads when a field is wrong, missing or unknown. */
import type * as z from 'zod';

export function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.input === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_value')) {
    const options = issue.code === 'invalid_value' ? ` (one of: ${issue.values.map(String).join(', ')})` : '';
    return `missing required field${options}`;
  }
  switch (issue.code) {
    case 'invalid_type': {
      const hint = issue.expected === 'string' && ['number', 'boolean'].includes(typeof issue.input);
      return `must be ${noun(issue.expected)}, got ${nounOf(issue.input)}${hint ? ` (quote it: "${String(issue.input)}")` : ''}`;
    }
    case 'too_small':
      return bound(issue.origin, issue.minimum, issue.inclusive ?? true, 'at least', '>');
    case 'too_big':
      return bound(issue.origin, issue.maximum, issue.inclusive ?? true, 'at most', '<');
    case 'invalid_value':
      return `must be one of: ${issue.values.map((v) => String(v)).join(', ')}`;
    case 'invalid_union': {
      if (!Array.isArray(issue.options)) return undefined;
      const options = issue.options.map(String).join(', ');
      return issue.input === undefined
        ? `missing required field (one of: ${options})`
        : `must be one of: ${options}`;
    }
    case 'invalid_key':
      return issue.issues[0]?.message;
    default:
      return undefined;
  }
}

function bound(
  origin: string,
  limit: number | bigint,
  inclusive: boolean,
  words: string,
  sign: string,
): string {
  const n = Number(limit);
  if (origin === 'string')
    return n === 1 && sign === '>' ? 'must not be empty' : `must be ${words} ${n} characters`;
  if (origin === 'array')
    return n === 1 && sign === '>' ? 'must not be empty' : `must have ${words} ${n} items`;
  return `must be ${sign}${inclusive ? '=' : ''} ${n}`;
}

const NOUNS: Record<string, string> = {
  string: 'a string',
  // Every number in a job spec is an integer.
  number: 'an integer',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
};

function noun(expected: string): string {
  return NOUNS[expected] ?? expected;
}

function nounOf(value: unknown): string {
  if (value === null) return 'null (an empty value)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : `the number ${value}`;
  return noun(typeof value);
}

export function unknownField(key: string, known: readonly string[]): string {
  const suggestion = closest(key, known);
  return `unknown field "${key}"${suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`}`;
}

/** Nomad users write `max_parallel`; typos drop or swap a letter or two. Both deserve a suggestion. */
function closest(key: string, known: readonly string[]): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = squash(name) === squash(key) ? 0 : editDistance(key, name);
    if (distance <= 2 && distance < name.length / 2 && (best === undefined || distance < best.distance)) {
      best = { name, distance };
    }
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}
