/** `disconnect.whenIsolated` in a job file (issue 18, two-device site). */
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/crdt/canonical-json.js';
import { parseJobFile } from '../../src/crdt/job-file.js';
import { jobSpecToInput, validateJobSpec } from '../../src/crdt/job-spec.js';

const base = ['name: web', 'driver: exec', 'command: /bin/sleep'];
const parse = (...lines: string[]) => parseJobFile([...base, ...lines, ''].join('\n'), 'web.yaml');

describe('disconnect.whenIsolated', () => {
  it('takes replace or wait', () => {
    const replace = parse('disconnect: { whenIsolated: replace }');
    expect(replace.ok && replace.spec.disconnect).toEqual({
      lostAfter: 0,
      replace: true,
      reconcile: 'best_score',
      whenIsolated: 'replace',
    });
    const wait = parse('disconnect:', '  whenIsolated: wait');
    expect(wait.ok && wait.spec.disconnect.whenIsolated).toBe('wait');
  });

  it('survives the written form: parsing jobSpecToInput gives the same spec back', () => {
    const parsed = parse('disconnect: { lostAfter: 30s, whenIsolated: replace }');
    if (!parsed.ok) throw new Error('expected a spec');
    const again = validateJobSpec(jobSpecToInput(parsed.spec));
    expect(again.ok && again.spec).toEqual(parsed.spec);
  });

  it('is not filled in when absent, so specs written before it keep their stored form and hash', () => {
    const spec = parse();
    expect(spec.ok && canonicalJson(spec.spec.disconnect)).toBe(
      canonicalJson({ lostAfter: 0, replace: true, reconcile: 'best_score' }),
    );
  });

  it('refuses another value with its line and column', () => {
    const bad = parse('disconnect:', '  whenIsolated: takeover');
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.errors).toEqual([
      expect.objectContaining({ path: 'disconnect.whenIsolated', line: 5, column: 17 }),
    ]);
    expect(bad.errors[0]!.message).toMatch(/wait.*replace/);
  });
});
