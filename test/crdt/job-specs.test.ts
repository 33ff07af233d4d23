import { describe, expect, test } from 'vitest';
import type { JsonValue } from '../../src/crdt/canonical-json.js';
import type { JobVersion } from '../../src/crdt/job-log.js';
import { type JobSpec, validateJobSpec } from '../../src/crdt/job-spec.js';
import { JobSpecs, jobVersion, readJobSpec } from '../../src/crdt/job-specs.js';
import { replica } from './replicas.js';

function normalised(input: unknown): JobSpec {
  const result = validateJobSpec(input);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.spec;
}

const web = normalised({ name: 'web', driver: 'docker', image: 'local/busybox:1', count: 2 });

/** A spec as a replica stores it: submitted in its normalised form. */
function stored(spec: unknown): JobVersion {
  const state = replica('a');
  state.submitJob('web', spec as JsonValue, 'op', 1000);
  return state.job('web')!.current;
}

describe('readJobSpec', () => {
  test('a stored normalised spec reads back as the same typed JobSpec', () => {
    const read = readJobSpec(stored(web));
    expect(read).toEqual({ ok: true, value: web });
    if (read.ok) expect(read.value.count).toBe(2);
  });

  const hostile: [string, unknown][] = [
    ['null', null],
    ['a number', 42],
    ['a string', 'web'],
    ['an array', [web]],
    ['an empty object', {}],
    ['a wrong field type', { ...web, count: 'many' }],
    ['an unknown field', { ...web, sysctls: { 'net.core.somaxconn': '1024' } }],
    ['a durations object of the wrong shape', { ...web, restart: 'always', update: 7 }],
    ['a __proto__ member', JSON.parse('{"__proto__": {"polluted": true}, "name": "web"}')],
  ];
  test.each(hostile)('%s stored as a spec is an error value, not a throw', (_, value) => {
    const read = readJobSpec({ spec: value as JsonValue });
    expect(read.ok).toBe(false);
    if (!read.ok) expect(read.error).toMatch(/\S/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('a hostile spec that reached the replicated state reads as an error naming the field', () => {
    const read = readJobSpec(stored({ ...web, count: -3 }));
    expect(read).toMatchObject({ ok: false, error: expect.stringContaining('count') });
  });
});

describe('JobSpecs', () => {
  test('validates each spec content once and forgets what was not read since the last round', () => {
    const specs = new JobSpecs();
    const v = stored(web);
    const first = specs.read(v);
    expect(specs.read({ ...v })).toBe(first);
    specs.forgetUnread();
    expect(specs.read(v)).toBe(first);
    specs.forgetUnread();
    specs.forgetUnread();
    const again = specs.read(v);
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });

  test('at: the version the job log ranks first, or an error when the view does not hold it', () => {
    const state = replica('a');
    state.submitJob('web', web as unknown as JsonValue, 'op', 1000);
    state.submitJob('web', { ...web, count: 3 } as unknown as JsonValue, 'op', 2000);
    const view = state.job('web');
    const specs = new JobSpecs();
    expect(specs.at(view, 1)).toEqual({ ok: true, value: web });
    expect(specs.at(view, 2)).toMatchObject({ ok: true, value: { count: 3 } });
    expect(specs.at(view, 9)).toEqual({ ok: false, error: 'job "web" has no version 9' });
    expect(specs.at(undefined, 1)).toMatchObject({ ok: false });
    expect(jobVersion(view, 2)).toBe(view?.current);
  });
});
