import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { canonicalJson } from '../../src/crdt/canonical-json.js';
import { templateProblem } from '../../src/crdt/interpolation.js';
import { parseJobFile } from '../../src/crdt/job-file.js';
import { type JobSpecInput, jobSpecToInput, validateJobSpec } from '../../src/crdt/job-spec.js';
import { formatDuration } from '../../src/lib/duration.js';

import { expectPositionsInside, specOf } from './job-file-support.js';

const root = new URL('../../', import.meta.url);

const durationText = (min: number, max: number) =>
  fc
    .tuple(fc.integer({ min, max }), fc.boolean())
    .map(([ms, shortest]) => (shortest ? formatDuration(ms) : `${ms}ms`));
const text = (maxLength: number) => fc.string({ minLength: 1, maxLength });
const portName = fc.stringMatching(/^[a-z]([a-z0-9-]{0,13}[a-z0-9])?$/);
const attribute = fc.oneof(
  fc.constantFrom('arch', 'os', 'name', 'driver'),
  fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9._/-]{0,20}[A-Za-z0-9])?$/).map((key) => `label.${key}`),
);
const rule = fc.oneof(
  fc.record({ attribute, operator: fc.constantFrom('=', '!='), value: fc.string({ maxLength: 20 }) }),
  fc.record({
    attribute,
    operator: fc.constantFrom('in', 'not_in'),
    value: fc.array(fc.string({ maxLength: 20 }), { minLength: 1, maxLength: 3 }),
  }),
);
const timing = { interval: durationText(1_000, 3_600_000), timeout: durationText(1, 60_000) };
const health = fc.oneof(
  fc.record(
    {
      type: fc.constant('http'),
      path: fc.stringMatching(/^\/[a-z0-9/._-]{0,20}$/),
      port: fc.integer({ min: 1, max: 65_535 }),
      ...timing,
    },
    { requiredKeys: ['type', 'path', 'port'] },
  ),
  fc.record(
    { type: fc.constant('tcp'), port: fc.integer({ min: 1, max: 65_535 }), ...timing },
    { requiredKeys: ['type', 'port'] },
  ),
  fc.record(
    { type: fc.constant('exec'), command: fc.array(text(20), { minLength: 1, maxLength: 3 }), ...timing },
    { requiredKeys: ['type', 'command'] },
  ),
);
const runtime = fc.oneof(
  fc.record(
    {
      driver: fc.constant('docker'),
      image: fc.stringMatching(
        /^([a-z0-9]{1,12}\.[a-z]{2,4}(:[0-9]{1,5})?\/)?[a-z0-9]{1,12}([._-][a-z0-9]{1,8}){0,2}(:[\w][\w.-]{0,20})?$/,
      ),
      command: text(30),
      network: fc.constantFrom('host', 'bridge'),
    },
    { requiredKeys: ['driver', 'image'] },
  ),
  fc.record(
    { driver: fc.constant('exec'), command: text(30), network: fc.constant('host') },
    { requiredKeys: ['driver', 'command'] },
  ),
);
const ports = (bridge: boolean) =>
  fc
    .uniqueArray(
      fc.record(
        {
          name: portName,
          host: fc.integer({ min: 1, max: 65_535 }),
          container: fc.integer({ min: 1, max: 65_535 }),
          protocol: fc.constantFrom('tcp', 'udp'),
        },
        { requiredKeys: ['name', 'host'] },
      ),
      { selector: (p) => p.name, maxLength: 4 },
    )
    .map((list) =>
      list
        .filter(
          (p, i) =>
            list.findIndex((q) => q.host === p.host && (q.protocol ?? 'tcp') === (p.protocol ?? 'tcp')) === i,
        )
        .map((p) => (bridge || p.container === undefined ? p : { ...p, container: p.host })),
    );
/** An args element or env value: any text that is a valid template, or one that names device values. */
const templateText = fc.oneof(
  fc.string({ maxLength: 30 }).filter((t) => templateProblem(t) === undefined),
  // biome-ignore lint/suspicious/noTemplateCurlyInString: job-file interpolations, not JavaScript.
  fc.constantFrom('${node.name}', '$${HOME}', 'zone=${node.label.zone}', '${alloc.index}/${job.version}'),
);
const validJob: fc.Arbitrary<JobSpecInput> = fc
  .tuple(
    fc.record(
      {
        name: fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/),
        type: fc.constantFrom('service', 'batch'),
        count: fc.integer({ min: 0, max: 10_000 }),
        args: fc.array(templateText, { maxLength: 4 }),
        env: fc.dictionary(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/), templateText, {
          maxKeys: 4,
        }),
        resources: fc.record(
          { cpu: fc.integer({ min: 1, max: 1_000_000 }), memory: fc.integer({ min: 1, max: 4_194_304 }) },
          { requiredKeys: [] },
        ),
        constraints: fc.array(rule, { maxLength: 3 }),
        affinities: fc.array(
          fc
            .tuple(
              rule,
              fc.integer({ min: -100, max: 100 }).filter((w) => w !== 0),
            )
            .map(([r, weight]) => ({ ...r, weight })),
          { maxLength: 3 },
        ),
        scheduling: fc.record({ algorithm: fc.constantFrom('binpack', 'spread') }, { requiredKeys: [] }),
        restart: fc.record(
          {
            attempts: fc.integer({ min: 0, max: 10 }),
            interval: durationText(600_000, 86_400_000),
            delay: durationText(0, 60_000),
            mode: fc.constantFrom('fail', 'delay'),
          },
          { requiredKeys: [] },
        ),
        health,
        disconnect: fc.record(
          {
            lostAfter: durationText(0, 8_760 * 3_600_000),
            replace: fc.boolean(),
            reconcile: fc.constantFrom('best_score', 'keep_original', 'keep_replacement', 'longest_running'),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: ['name'] },
    ),
    runtime,
    fc.record(
      { maxParallel: fc.integer({ min: 1, max: 10_000 }), autoRevert: fc.boolean() },
      { requiredKeys: [] },
    ),
    fc.option(
      fc
        .tuple(fc.integer({ min: 0, max: 3_600_000 }), fc.integer({ min: 1, max: 3_600_000 }))
        .map(([min, extra]) => ({
          minHealthyTime: formatDuration(min),
          healthyDeadline: formatDuration(Math.max(1_000, min + extra)),
        })),
      { nil: undefined },
    ),
    fc.nat(),
  )
  .chain(([base, run, update, deadlines, canarySeed]) =>
    ports(run.network === 'bridge').map((portList) => {
      const count = base.count ?? 1;
      const canary = count === 0 ? 0 : canarySeed % (count + 1);
      return {
        ...base,
        ...run,
        ports: portList,
        update: { ...update, ...deadlines, canary },
      } as JobSpecInput;
    }),
  );

describe('properties', () => {
  it('any valid spec written as YAML or JSON parses to the same normalised spec', () => {
    fc.assert(
      fc.property(validJob, (input) => {
        const direct = validateJobSpec(input);
        if (!direct.ok) throw new Error(JSON.stringify(direct.issues));
        const expected = canonicalJson(direct.spec);
        expect(canonicalJson(specOf(stringify(input), 'job.yaml'))).toBe(expected);
        expect(canonicalJson(specOf(JSON.stringify(input, null, 2), 'job.json'))).toBe(expected);
        expect(canonicalJson(specOf(stringify(jobSpecToInput(direct.spec))))).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on arbitrary text, and every error points inside the text', () => {
    const anyText = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }));
    fc.assert(
      fc.property(anyText, fc.constantFrom(undefined, 'job.yaml', 'job.json'), (input, fileName) => {
        expectPositionsInside(parseJobFile(input, fileName), input);
      }),
      { numRuns: 2_000 },
    );
  });

  it('never throws on YAML-ish token soup', () => {
    const token = fc.constantFrom(
      'name',
      'driver',
      'docker',
      'exec',
      'image',
      'count',
      'health',
      'type',
      'http',
      'port',
      'update',
      'canary',
      'constraints',
      'attribute',
      'operator',
      'value',
      'in',
      'env',
      '__proto__',
      'restart',
      'interval',
      '10s',
      ': ',
      ':',
      '- ',
      '-',
      '[',
      ']',
      '{',
      '}',
      ',',
      '&a ',
      '*a',
      '!tag ',
      '!!binary ',
      '|',
      '>',
      '"',
      "'",
      '#',
      '\n',
      '\n  ',
      '\n    ',
      '\t',
      ' ',
      '---\n',
      '...\n',
      '? ',
      '%YAML 1.2\n',
      '<<: ',
      '0',
      '-1',
      '1e400',
      '~',
      'null',
      '\r\n',
      '\uFEFF',
      '\u0000',
      '€',
    );
    fc.assert(
      fc.property(
        fc.array(token, { maxLength: 60 }),
        fc.constantFrom(undefined, 'job.json'),
        (tokens, fileName) => {
          const input = tokens.join('');
          expectPositionsInside(parseJobFile(input, fileName), input);
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it('never throws on mutated valid files', () => {
    const examples = ['web.yaml', 'worker.yaml', 'batch.yaml', 'sensor.yaml'].map((file) =>
      readFileSync(new URL(`examples/${file}`, root), 'utf8'),
    );
    const edit = fc.record({ at: fc.nat(), remove: fc.nat({ max: 8 }), insert: fc.string({ maxLength: 6 }) });
    fc.assert(
      fc.property(
        fc.constantFrom(...examples),
        fc.array(edit, { minLength: 1, maxLength: 4 }),
        (original, edits) => {
          const input = edits.reduce((acc, { at, remove, insert }) => {
            const i = at % (acc.length + 1);
            return acc.slice(0, i) + insert + acc.slice(i + remove);
          }, original);
          expectPositionsInside(parseJobFile(input), input);
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
