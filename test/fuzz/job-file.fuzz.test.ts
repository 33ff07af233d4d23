import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { canonicalJson } from '../../src/crdt/canonical-json.js';
import { MAX_JOB_FILE_BYTES, parseJobFile } from '../../src/crdt/job-file.js';
import { jobSpecToInput, validateJobSpec } from '../../src/crdt/job-spec.js';
import { parseJson } from '../../src/lib/json-text.js';
import { FUZZ_RUNS, FUZZ_TIMEOUT_MS, mutatedFrom } from './mutate.js';

/**
 * Job files are untrusted input to meshctl and to the agent. Mutations of the shipped examples (at byte level,
 * so also invalid UTF-8 decoded with replacement characters), YAML built to hurt (alias bombs, deep nesting,
 * tags, huge scalars, many documents) and JSON variants: the parser answers with a spec or with errors that
 * point at a real line and column, never a throw, and every spec it returns is one the validator accepts.
 */
const examplesDir = new URL('../../examples/', import.meta.url);
const examples = readdirSync(examplesDir)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => readFileSync(new URL(f, examplesDir)));

const hostileYaml: fc.Arbitrary<string> = fc.oneof(
  fc.nat(12).map((n) => {
    // A "billion laughs": every level doubles the previous one.
    const lines = ['a0: &a0 ["x", "x"]'];
    for (let i = 1; i <= n; i++) lines.push(`a${i}: &a${i} [*a${i - 1}, *a${i - 1}]`);
    return `${lines.join('\n')}\nname: bomb\ndriver: exec\ncommand: [*a${n}]\n`;
  }),
  fc.nat(2_000).map((d) => `name: deep\ndriver: exec\nenv: ${'['.repeat(d)}${']'.repeat(d)}\n`),
  fc
    .nat(300)
    .map(
      (d) =>
        `name: deep\ndriver: exec\nenv:\n${Array.from({ length: d }, (_, i) => `${' '.repeat(i + 1)}k${i}:`).join('\n')} 1\n`,
    ),
  fc.constantFrom(
    'name: !!binary aGVsbG8=\ndriver: exec\n',
    'name: !custom x\ndriver: exec\n',
    '--- \nname: a\n---\nname: b\n',
    '%YAML 1.1\n---\nname: web\ndriver: docker\nimage: x\n',
    'name: web\nname: web\n',
    '<<: {name: web}\ndriver: docker\nimage: nginx\n',
    '? [a, b]\n: c\n',
    'name: web\ndriver: docker\nimage: nginx\ncount: 1e400\n',
    '{"name": "web", "driver": "docker", "image": "nginx", "__proto__": {"count": 5}}',
    'name: "\\uD800"\ndriver: exec\n',
  ),
  fc.string({ maxLength: 400 }),
  fc
    .constantFrom(1_000, MAX_JOB_FILE_BYTES - 64, MAX_JOB_FILE_BYTES + 1)
    .map((n) => `name: web\ndriver: exec\ncommand: ["${'x'.repeat(n)}"]\n`),
);

const input = fc.oneof(
  { weight: 6, arbitrary: mutatedFrom(examples).map((bytes) => Buffer.from(bytes).toString('utf8')) },
  { weight: 3, arbitrary: hostileYaml },
);

describe('job file parser fuzz', () => {
  test(
    `any text gets a valid spec or located errors, never a throw (${FUZZ_RUNS} cases)`,
    () => {
      fc.assert(
        fc.property(input, fc.constantFrom('job.yaml', 'job.json', undefined), (text, fileName) => {
          const result = parseJobFile(text, fileName);
          if (result.ok) {
            // Whatever the parser builds survives the trip to the agent and its validator unchanged. Read as the
            // agent reads: JSON.parse's reading of an escaped key depends on what the process parsed before.
            const sent = parseJson(JSON.stringify(jobSpecToInput(result.spec)));
            const again = validateJobSpec(sent);
            expect(again.ok && canonicalJson(again.spec as never)).toBe(canonicalJson(result.spec as never));
            return;
          }
          expect(result.errors.length).toBeGreaterThan(0);
          const lines = text.split('\n').length;
          for (const e of result.errors) {
            expect(e.message.length).toBeGreaterThan(0);
            expect(e.line).toBeGreaterThanOrEqual(1);
            expect(e.line).toBeLessThanOrEqual(lines);
            expect(e.column).toBeGreaterThanOrEqual(1);
          }
        }),
        { numRuns: FUZZ_RUNS },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
