// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the ${...} here are job-file interpolations, not JavaScript.
/** Dynamic ports in the job spec (job-spec-ports.ts): a port without `host`. */
import { describe, expect, it } from 'vitest';
import { jobSpecToInput } from '../../src/crdt/job-spec.js';
import { portEnvName } from '../../src/crdt/job-spec-ports.js';
import { expectIssue, specOf } from '../support/job-spec-checks.js';

const web = { name: 'web', driver: 'exec', command: '/bin/httpd', count: 2 } as const;

describe('dynamic ports', () => {
  it('a port without host is dynamic: stored without one, round trips, and a service may name it', () => {
    const spec = specOf({
      ...web,
      ports: [{ name: 'http' }, { name: 'dns', protocol: 'udp' }],
      args: ['--port', '${alloc.port.http}'],
      services: [{ name: 'web', port: 'http' }],
    });
    expect(spec.ports).toEqual([
      { name: 'http', protocol: 'tcp' },
      { name: 'dns', protocol: 'udp' },
    ]);
    expect(specOf(jobSpecToInput(spec))).toEqual(spec);
  });

  it('with network bridge a dynamic port may name its container port', () => {
    const spec = specOf({
      name: 'web',
      driver: 'docker',
      image: 'nginx:1',
      network: 'bridge',
      ports: [{ name: 'http', container: 80 }],
    });
    expect(spec.ports).toEqual([{ name: 'http', container: 80, protocol: 'tcp' }]);
  });

  it('a tcp or http check cannot name a dynamic port by its container port', () => {
    const bridge = { name: 'web', driver: 'docker', image: 'nginx:1', network: 'bridge' };
    expectIssue(
      { ...bridge, ports: [{ name: 'http', container: 80 }], health: { type: 'tcp', port: 80 } },
      ['health', 'port'],
      /use an exec check/,
    );
    expect(
      specOf({ ...bridge, ports: [{ name: 'http' }], health: { type: 'exec', command: ['true'] } }),
    ).toBeDefined();
  });

  it('with network host a dynamic port takes no container port', () => {
    expectIssue(
      { ...web, ports: [{ name: 'http', container: 80 }] },
      ['ports', 0, 'container'],
      /omit container/,
    );
  });

  it('${alloc.port.<name>} must name a declared port', () => {
    expectIssue(
      { ...web, ports: [{ name: 'http' }], env: { ADMIN: ':${alloc.port.admin}' } },
      ['env', 'ADMIN'],
      '${alloc.port.admin} names a port the job does not declare: add it under ports',
    );
    expectIssue({ ...web, args: ['${alloc.port.http}'] }, ['args', 0], /does not declare/);
  });

  it('hands each port in its own variable', () => {
    expect(portEnvName('admin-ui')).toBe('MYCEL_PORT_ADMIN_UI');
  });

  it('static host ports stay unique per protocol; dynamic ones do not count', () => {
    expectIssue(
      {
        ...web,
        ports: [
          { name: 'a', host: 80 },
          { name: 'b', host: 80 },
        ],
      },
      ['ports', 1, 'host'],
      'host port 80/tcp is already used by another port',
    );
    expect(specOf({ ...web, ports: [{ name: 'a' }, { name: 'b' }] }).ports).toHaveLength(2);
  });
});
