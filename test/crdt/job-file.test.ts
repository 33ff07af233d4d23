import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { renderJobSchema } from '../../src/cli/gen-schema.js';
import { canonicalJson } from '../../src/crdt/canonical-json.js';
import { templateProblem } from '../../src/crdt/interpolation.js';
import {
  formatJobFileErrors,
  formatPath,
  type JobFileError,
  type JobFileResult,
  MAX_JOB_FILE_BYTES,
  parseJobFile,
} from '../../src/crdt/job-file.js';
import { type JobSpecInput, jobSpecToInput, validateJobSpec } from '../../src/crdt/job-spec.js';
import { formatDuration } from '../../src/lib/duration.js';

const root = new URL('../../', import.meta.url);

function errorsOf(text: string, fileName?: string): JobFileError[] {
  const result = parseJobFile(text, fileName);
  if (result.ok) throw new Error('expected errors');
  return result.errors;
}

function specOf(text: string, fileName?: string) {
  const result = parseJobFile(text, fileName);
  if (!result.ok) throw new Error(formatJobFileErrors(result.errors, fileName ?? 'job.yaml'));
  return result.spec;
}

/** Every error position is a real place in the text: 1-based, on an existing line, at most one past its end. */
function expectPositionsInside(result: JobFileResult, text: string) {
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

describe('examples/', () => {
  const files = readdirSync(new URL('examples/', root)).filter((f) => f.endsWith('.yaml'));

  it('has the documented examples', () => {
    expect(files.sort()).toEqual([
      'batch.yaml',
      'periodic.yaml',
      'sensor.yaml',
      'system.yaml',
      'web.yaml',
      'worker.yaml',
    ]);
  });

  it.each(files)('%s is a valid job', (file) => {
    const spec = specOf(readFileSync(new URL(`examples/${file}`, root), 'utf8'), file);
    expect(spec.name).toMatch(/^[a-z]/);
  });
});

describe('schema/job.schema.json', () => {
  it('is what the generator writes from the zod schema today (run `npm run schema` after changing it)', () => {
    expect(readFileSync(new URL('schema/job.schema.json', root), 'utf8')).toBe(renderJobSchema());
  });

  it('shows editors the written form: durations as strings, unknown fields refused', () => {
    const schema = JSON.parse(renderJobSchema());
    expect(schema.properties.update.properties.minHealthyTime).toMatchObject({
      type: 'string',
      default: '10s',
    });
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['name', 'driver']);
  });
});

describe('error positions', () => {
  it('points at an unknown field name', () => {
    const text = 'name: web\ndriver: docker\nimage: local/busybox:1\ncout: 3\n';
    expect(errorsOf(text)).toEqual([
      { path: 'cout', message: 'unknown field "cout" (did you mean "count"?)', line: 4, column: 1 },
    ]);
  });

  it('points at the offending value', () => {
    const text = 'name: web\ndriver: docker\nimage: i\nupdate:\n  canary: 0\n  maxParallel: 0\n';
    expect(errorsOf(text)).toEqual([
      { path: 'update.maxParallel', message: 'must be >= 1', line: 6, column: 16 },
    ]);
  });

  it('points into flow collections and list items', () => {
    const text = [
      'name: web',
      'driver: docker',
      'image: i',
      'constraints:',
      '  - { attribute: arch, operator: "=", value: arm64 }',
      '  - { attribute: arch, operator: in, value: arm64 }',
    ].join('\n');
    expect(errorsOf(text)).toEqual([
      {
        path: 'constraints[1].value',
        message: 'operators in and not_in need a list of values, e.g. [a, b]',
        line: 6,
        column: 45,
      },
    ]);
  });

  it('points a missing field at the mapping that should hold it', () => {
    const text = 'name: web\ndriver: docker\nimage: i\nhealth:\n  type: http\n  path: /\n';
    expect(errorsOf(text)).toEqual([
      { path: 'health.port', message: 'missing required field', line: 5, column: 3 },
    ]);
    expect(errorsOf('# a job\n\nname: web\ncount: 2\n')).toEqual([
      { path: 'driver', message: 'missing required field (one of: docker, exec)', line: 3, column: 1 },
    ]);
  });

  it('points a cross-field rule at its field, or at the mapping when the field is absent', () => {
    expect(errorsOf('name: web\ndriver: docker\n')).toEqual([
      { path: 'image', message: 'the docker driver needs an image', line: 1, column: 1 },
    ]);
    expect(errorsOf('name: web\ndriver: exec\ncommand: x\nimage: i\n')).toEqual([
      {
        path: 'image',
        message: 'the exec driver runs a host command and takes no image',
        line: 4,
        column: 8,
      },
    ]);
  });

  it('points an empty value at its key', () => {
    expect(errorsOf('name: web\ndriver: docker\nimage:\n')).toEqual([
      { path: 'image', message: 'must be a string, got null (an empty value)', line: 3, column: 1 },
    ]);
  });

  it('points at an alias where it is used, and through aliased collections at the anchored item', () => {
    const scalar =
      'name: web\ndriver: docker\nimage: i\nhealth: { type: tcp, port: &p 99999 }\nports:\n  - { name: http, host: *p }\n';
    expect(errorsOf(scalar)).toEqual([
      { path: 'health.port', message: 'must be <= 65535', line: 4, column: 31 },
      { path: 'ports[0].host', message: 'must be <= 65535', line: 6, column: 25 },
    ]);
    const list =
      'name: web\ndriver: exec\ncommand: /bin/run\nargs: &cmd [check, ""]\nhealth: { type: exec, command: *cmd }\n';
    expect(errorsOf(list)).toEqual([
      { path: 'health.command[1]', message: 'must not be empty', line: 4, column: 20 },
    ]);
  });

  it('sorts errors by position and quotes odd keys in paths', () => {
    const text = 'name: Web\ndriver: docker\nimage: i\nenv:\n  "a.b": x\ncount: -1\n';
    expect(errorsOf(text).map((e) => [e.line, e.path])).toEqual([
      [1, 'name'],
      [5, 'env["a.b"]'],
      [6, 'count'],
    ]);
  });
});

describe('syntax', () => {
  it('reports YAML syntax errors with their position', () => {
    const [error] = errorsOf('name: web\ndriver: [docker\ncount: 3\n');
    expect(error).toMatchObject({ path: '', line: 3, column: 1 });
    expect(errorsOf('name: web\nname: api\n')).toEqual([
      { path: '', message: 'duplicate key "name" in this mapping: keep one', line: 2, column: 1 },
    ]);
    expect(errorsOf('name: web\n\tdriver: docker\n')[0]).toMatchObject({
      line: 2,
      column: 1,
      message: /Tabs/,
    });
  });

  it('treats unknown tags as errors rather than plain strings', () => {
    expect(errorsOf('name: !secret web\ndriver: docker\nimage: i\n')[0]).toMatchObject({
      line: 1,
      column: 7,
    });
  });

  it('refuses several documents in one file', () => {
    const errors = errorsOf('name: a\ndriver: exec\ncommand: x\n---\nname: b\n');
    expect(errors).toEqual([
      { path: '', message: expect.stringMatching(/one YAML document/), line: 4, column: 1 },
    ]);
  });

  it('refuses empty files and files of comments', () => {
    for (const text of ['', '\n\n', '# nothing yet\n']) {
      expect(errorsOf(text)).toEqual([
        { path: '', message: expect.stringMatching(/file is empty/), line: 1, column: 1 },
      ]);
    }
  });

  it('allows a few aliases and refuses an alias bomb', () => {
    const ok =
      'name: web\ndriver: exec\ncommand: &c /bin/run\nhealth: { type: exec, command: [*c, --check] }\n';
    expect(specOf(ok).health).toMatchObject({ command: ['/bin/run', '--check'] });
    let bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n';
    let previous = 'a';
    for (const name of 'bcdefghi') {
      bomb += `${name}: &${name} [${Array(9).fill(`*${previous}`).join(',')}]\n`;
      previous = name;
    }
    const errors = errorsOf(bomb);
    expect(errors).toEqual([{ path: '', message: expect.stringMatching(/aliases/), line: 2, column: 8 }]);
  });

  it('refuses deep bracket nesting before the YAML parser sees it, without miscounting brackets in strings and comments', () => {
    expect(errorsOf(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toEqual([
      { path: '', message: expect.stringMatching(/nested deeper than 32 levels/), line: 1, column: 33 },
    ]);
    const quoted = `name: web\ndriver: exec\ncommand: "${'['.repeat(40)}"\nargs: ['${'{'.repeat(40)}']\n# ${'['.repeat(40)}\n`;
    expect(specOf(quoted)).toMatchObject({ command: '['.repeat(40), args: ['{'.repeat(40)] });
  });

  it('refuses files over the size limit, counting bytes not characters', () => {
    const padding = (char: string, count: number) =>
      `name: web\ndriver: exec\ncommand: x\n# ${char.repeat(count)}\n`;
    expect(errorsOf(padding('x', MAX_JOB_FILE_BYTES))[0]?.message).toMatch(/at most 256 KiB/);
    expect(errorsOf(padding('€', MAX_JOB_FILE_BYTES / 3 + 1))[0]?.message).toMatch(/at most 256 KiB/);
    expect(specOf(padding('x', MAX_JOB_FILE_BYTES - 100)).name).toBe('web');
  });
});

describe('JSON job files', () => {
  const json = '{\n  "name": "web",\n  "driver": "docker",\n  "image": "local/busybox:1"\n}\n';

  it('parses JSON with the same rules and positions', () => {
    expect(specOf(json, 'web.json')).toMatchObject({ image: 'local/busybox:1' });
    const text = '{\n\t"name": "web",\n\t"driver": "docker",\n\t"image": "i",\n\t"count": "3"\n}';
    expect(errorsOf(text, 'web.json')).toEqual([
      { path: 'count', message: 'must be an integer, got a string', line: 5, column: 11 },
    ]);
  });

  it.each([
    ['{"name": "web",}', 1, 16, /double-quoted property name/],
    ['{"name": "web", "count": }', 1, 26, /expected a value/],
    ['{\n  "name": web\n}', 2, 11, /expected a value/],
    ['{"name": "web"', 1, 15, /expected "," or "}"/],
    ['{"name": "web"} x', 1, 17, /unexpected text after the end/],
    ["{'name': 'web'}", 1, 2, /double-quoted property name/],
    ['{"args": [1 2]}', 1, 13, /expected "," or "]"/],
    ['{"name": "a\tb"}', 1, 10, /expected a value/],
  ])('reports the JSON syntax error in %j at its line and column', (text, line, column, message) => {
    const errors = errorsOf(text, 'job.json');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ path: '', line, column, message: expect.stringMatching(message) });
  });

  it('holds only .json files to JSON: a YAML file may use flow style freely', () => {
    expect(specOf('{name: web, driver: exec, command: x,}', 'job.yaml').name).toBe('web');
  });
});

describe('formatJobFileErrors', () => {
  it('prints file:line:column: path: message, one per line', () => {
    const errors: JobFileError[] = [
      { path: 'update.maxParallel', message: 'must be >= 1', line: 12, column: 5 },
      { path: '', message: 'Map keys must be unique', line: 14, column: 1 },
    ];
    expect(formatJobFileErrors(errors, 'app.yaml')).toBe(
      'app.yaml:12:5: update.maxParallel: must be >= 1\napp.yaml:14:1: Map keys must be unique',
    );
  });

  it('formats paths the way users write them', () => {
    expect(formatPath(['constraints', 1, 'value'])).toBe('constraints[1].value');
    expect(formatPath(['env', 'MY_VAR'])).toBe('env.MY_VAR');
    expect(formatPath(['env', 'a b'])).toBe('env["a b"]');
    expect(formatPath([])).toBe('');
  });
});

// A generator of valid job specs in the written form: every rule of the schema is respected by construction.
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
