import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderJobSchema } from '../../src/cli/gen-schema.js';
import {
  formatJobFileErrors,
  formatPath,
  type JobFileError,
  MAX_JOB_FILE_BYTES,
} from '../../src/crdt/job-file.js';

import { errorsOf, specOf } from './job-file-support.js';

const root = new URL('../../', import.meta.url);

describe('examples/', () => {
  const files = readdirSync(new URL('examples/', root)).filter((f) => f.endsWith('.yaml'));

  it('has the documented examples', () => {
    expect(files.sort()).toEqual([
      'batch.yaml',
      'directory.yaml',
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
