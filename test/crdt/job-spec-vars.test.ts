// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the ${...} here are job-file interpolations, not JavaScript.
import { describe, expect, it } from 'vitest';
import { validateJobSpec } from '../../src/crdt/job-spec.js';
import { interpolate, varPlaceholder } from '../../src/node/workloads/interpolate.js';
import { expectIssue } from '../support/job-spec-checks.js';

const app = {
  name: 'app',
  driver: 'exec',
  command: '/bin/app',
  vars: ['app/db'],
  env: { DB_PASSWORD: '${var:app/db:password}', URL: 'postgres://u:${var:app/db:password}@db/${job.name}' },
} as const;

describe('vars: the variables a job may read', () => {
  it('a job granted a path reads its keys in env', () => {
    const result = validateJobSpec(app);
    expect(result.ok && result.spec.vars).toEqual(['app/db']);
  });

  it('a reference to a path the job is not granted is refused at submission, saying how to grant it', () => {
    expectIssue(
      { ...app, vars: undefined },
      ['env', 'DB_PASSWORD'],
      /not granted: add it under vars \(vars: \[app\/db\]\)/,
    );
    expectIssue({ ...app, vars: ['app/other'] }, ['env', 'URL'], /"app\/db", which the job is not granted/);
  });

  it('refuses variables in args (visible in ps), malformed references, bad paths and duplicates', () => {
    expectIssue({ ...app, args: ['${var:app/db:password}'] }, ['args', 0], /env only/);
    expectIssue({ ...app, env: { X: '${var:app/db}' } }, ['env', 'X'], /write \$\{var:PATH:KEY\}/);
    expectIssue({ ...app, env: { X: '${var:App/DB:k}' } }, ['env', 'X'], /invalid variable path/);
    expectIssue({ ...app, env: { X: '${var:app/db:1k}' } }, ['env', 'X'], /invalid key name/);
    expectIssue({ ...app, vars: ['app/db', 'app/db'] }, ['vars', 1], /duplicate/);
    expectIssue({ ...app, vars: ['/abs'] }, ['vars', 0], /invalid variable path/);
  });

  it('a spec without vars keeps its shape (and hash): the field is absent, not empty', () => {
    const result = validateJobSpec({ name: 'x', driver: 'exec', command: '/bin/true' });
    expect(result.ok && 'vars' in result.spec).toBe(false);
  });

  it('the device fills values in only where given, and leaves a placeholder the driver wrapper fills', () => {
    const values = {
      node: { name: 'n', id: 'p', arch: 'x', os: 'linux', labels: {} },
      alloc: { id: 'a', index: 0, ports: {} },
      job: { name: 'app', version: 1 },
    };
    expect(interpolate(app.env.URL, values)).toBe(
      `postgres://u:${varPlaceholder('app/db', 'password')}@db/app`,
    );
    const vars = new Map([['app/db', { password: 's3cret' }]]);
    expect(interpolate(app.env.URL, { ...values, vars })).toBe('postgres://u:s3cret@db/app');
    expect(interpolate('$${var:app/db:password}', { ...values, vars })).toBe('${var:app/db:password}');
  });
});
