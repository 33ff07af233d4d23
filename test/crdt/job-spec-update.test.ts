/** The rollout fields of `update` (waves, maxFailureRatio, autoPromote) in a job file. */
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/crdt/canonical-json.js';
import { parseJobFile } from '../../src/crdt/job-file.js';
import { jobSpecToInput, validateJobSpec } from '../../src/crdt/job-spec.js';

const base = ['name: web', 'driver: exec', 'command: /bin/sleep', 'count: 10'];
const parse = (...lines: string[]) => parseJobFile([...base, ...lines, ''].join('\n'), 'web.yaml');
const errorsOf = (...lines: string[]) => {
  const result = parse(...lines);
  if (result.ok) throw new Error('expected errors');
  return result.errors.map((e) => ({ path: e.path, line: e.line, message: e.message }));
};

describe('update.waves, maxFailureRatio and autoPromote', () => {
  it('are read as written and survive the written form', () => {
    const parsed = parse(
      'update:',
      '  waves: [10, 25, 100]',
      '  maxFailureRatio: 0.2',
      '  autoPromote: false',
    );
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    expect(parsed.spec.update).toMatchObject({
      waves: [10, 25, 100],
      maxFailureRatio: 0.2,
      autoPromote: false,
    });
    const again = validateJobSpec(jobSpecToInput(parsed.spec));
    expect(again.ok && again.spec).toEqual(parsed.spec);
  });

  it('are not filled in when absent, so specs written before them keep their stored form and hash', () => {
    const spec = parse();
    expect(spec.ok && canonicalJson(spec.spec.update)).toBe(
      canonicalJson({
        maxParallel: 1,
        canary: 0,
        minHealthyTime: 10_000,
        healthyDeadline: 300_000,
        autoRevert: false,
      }),
    );
  });

  it('refuses waves that do not grow, do not end at 100, or leave 0..100, each at its line', () => {
    expect(errorsOf('update:', '  waves: [10, 10, 50]')).toEqual([
      { path: 'update.waves[1]', line: 6, message: 'must be more than the wave before it (10%)' },
      { path: 'update.waves[2]', line: 6, message: 'the last wave must be 100: every copy moves in the end' },
    ]);
    expect(errorsOf('update:', '  waves: [0, 100]')).toEqual([
      expect.objectContaining({ path: 'update.waves[0]', message: expect.stringMatching(/>= 1/) }),
    ]);
    expect(errorsOf('update:', '  waves: []')).toEqual([
      { path: 'update.waves', line: 6, message: 'must not be empty' },
    ]);
    expect(
      errorsOf(`update: { waves: [${Array.from({ length: 11 }, (_, i) => 9 * i + 10).join(', ')}] }`),
    ).toEqual([expect.objectContaining({ path: 'update.waves', message: expect.stringMatching(/10/) })]);
  });

  it('says which fields do not go together', () => {
    expect(errorsOf('update: { waves: [50, 100], canary: 1 }')).toEqual([
      expect.objectContaining({
        path: 'update.canary',
        message: 'waves and canary both say what goes first: use one of them',
      }),
    ]);
    expect(errorsOf('update: { maxFailureRatio: 0.5 }')).toEqual([
      expect.objectContaining({
        path: 'update.maxFailureRatio',
        message: 'only applies with waves: add waves or leave it out',
      }),
    ]);
    expect(errorsOf('update: { maxFailureRatio: 1.5, waves: [100] }')).toEqual([
      expect.objectContaining({ path: 'update.maxFailureRatio', message: expect.stringMatching(/<= 1/) }),
    ]);
    expect(errorsOf('update: { autoPromote: false }')).toEqual([
      expect.objectContaining({
        path: 'update.autoPromote',
        message: 'a rollout waits for promotion after its first wave or its canaries: add waves or canary',
      }),
    ]);
    expect(parse('update: { autoPromote: false, canary: 2 }').ok).toBe(true);
    expect(errorsOf('type: batch', 'update: { waves: [100] }')).toEqual([
      expect.objectContaining({
        path: 'update.waves',
        message: "a batch job's copies run to completion and do not roll out in waves",
      }),
    ]);
  });
});
