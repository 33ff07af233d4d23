import { describe, expect, it } from 'vitest';
import { jobSpecToInput } from '../../src/crdt/job-spec.js';
import { SERVICE_LIMITS } from '../../src/crdt/job-spec-services.js';
import { expectIssue, specOf } from '../support/job-spec-checks.js';

const web = {
  name: 'web',
  driver: 'exec',
  command: '/bin/httpd',
  ports: [
    { name: 'http', host: 8080 },
    { name: 'admin', host: 9090 },
  ],
} as const;

describe('services', () => {
  it('are stored as written, and absent when not given so older specs keep their hash', () => {
    const services = [
      { name: 'web', port: 'http', tags: ['v1', 'public'] },
      { name: 'web-admin', port: 'admin' },
    ];
    const spec = specOf({ ...web, services });
    expect(spec.services).toEqual(services);
    expect(specOf(jobSpecToInput(spec))).toEqual(spec);
    expect(Object.hasOwn(specOf(web), 'services')).toBe(false);
  });

  it('must name a port the job declares', () => {
    expectIssue(
      { ...web, services: [{ name: 'web', port: 'https' }] },
      ['services', 0, 'port'],
      /"https".*"http", "admin"/,
    );
    expectIssue(
      { name: 'web', driver: 'exec', command: '/bin/x', services: [{ name: 'web', port: 'http' }] },
      ['services', 0, 'port'],
      /declares no ports/,
    );
  });

  it('have unique DNS-label names', () => {
    expectIssue(
      {
        ...web,
        services: [
          { name: 'web', port: 'http' },
          { name: 'web', port: 'admin' },
        ],
      },
      ['services', 1, 'name'],
      /duplicate service name "web"/,
    );
    for (const name of ['Web', '-web', 'web-', 'a.b', 'x'.repeat(64), '']) {
      expectIssue({ ...web, services: [{ name, port: 'http' }] }, ['services', 0, 'name'], /DNS label/);
    }
    expect(specOf({ ...web, services: [{ name: 'x'.repeat(63), port: 'http' }] }).services).toHaveLength(1);
  });

  it('have bounded, printable, unique tags and no unknown fields', () => {
    const tags = Array.from({ length: SERVICE_LIMITS.tags + 1 }, (_, i) => `t${i}`);
    expectIssue({ ...web, services: [{ name: 'web', port: 'http', tags }] }, ['services', 0, 'tags'], /16/);
    expectIssue(
      { ...web, services: [{ name: 'web', port: 'http', tags: ['a b'] }] },
      ['services', 0, 'tags', 0],
      /spaces/,
    );
    expectIssue(
      { ...web, services: [{ name: 'web', port: 'http', tags: ['a', 'a'] }] },
      ['services', 0, 'tags', 1],
      /duplicate tag/,
    );
    expectIssue(
      { ...web, services: [{ name: 'web', port: 'http', tag: ['a'] }] },
      ['services', 0, 'tag'],
      /tags/,
    );
    const many = Array.from({ length: SERVICE_LIMITS.services + 1 }, (_, i) => ({
      name: `s${i}`,
      port: 'http',
    }));
    expectIssue({ ...web, services: many }, ['services'], /16/);
  });
});
