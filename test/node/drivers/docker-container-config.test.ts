import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { containerConfig } from '../../../src/node/drivers/docker-container-config.js';
import type { DockerTaskSpec } from '../../../src/node/drivers/driver.js';

const port = fc.record({
  name: fc.constantFrom('http', 'metrics', 'dns'),
  host: fc.integer({ min: 1, max: 65535 }),
  container: fc.integer({ min: 1, max: 65535 }),
  protocol: fc.constantFrom('tcp' as const, 'udp' as const),
});

const spec: fc.Arbitrary<DockerTaskSpec> = fc.record({
  allocId: fc.stringMatching(/^[a-z0-9]{1,12}$/),
  job: fc.stringMatching(/^[a-z]{1,10}$/),
  jobVersion: fc.nat(),
  driver: fc.constant('docker' as const),
  image: fc.constant('local/busybox:1'),
  command: fc.option(fc.constantFrom('sh', 'httpd'), { nil: undefined }),
  args: fc.array(fc.string(), { maxLength: 3 }),
  env: fc.dictionary(fc.stringMatching(/^[A-Z_]{1,8}$/), fc.string()),
  network: fc.constantFrom('host' as const, 'bridge' as const),
  ports: fc.array(port, { maxLength: 4 }),
  resources: fc.record({
    cpu: fc.integer({ min: 1, max: 64_000 }),
    memory: fc.integer({ min: 6, max: 65_536 }),
  }),
});

describe('containerConfig', () => {
  it('maps limits, labels, env, command and ports of any task', () => {
    fc.assert(
      fc.property(spec, fc.string({ minLength: 1 }), (task, owner) => {
        const config = containerConfig(task, owner);
        expect(config.name).toBe(`mycel-${task.allocId}`);
        expect(config.HostConfig?.NanoCpus).toBe(task.resources.cpu * 1e6);
        expect(config.HostConfig?.Memory).toBe(task.resources.memory * 1024 * 1024);
        expect(config.HostConfig?.RestartPolicy).toEqual({ Name: 'no' });
        expect(config.HostConfig?.NetworkMode).toBe(task.network);
        expect(config.Labels).toEqual({
          'mycel.alloc': task.allocId,
          'mycel.job': task.job,
          'mycel.version': String(task.jobVersion),
          'mycel.owner': owner,
        });
        expect(new Set(config.Env)).toEqual(new Set(Object.entries(task.env).map(([k, v]) => `${k}=${v}`)));
        const cmd = task.command === undefined ? task.args : [task.command, ...task.args];
        expect(config.Cmd).toEqual(cmd.length > 0 ? cmd : undefined);

        const bindings = config.HostConfig?.PortBindings as
          | Record<string, { HostPort: string }[]>
          | undefined;
        if (task.network === 'host' || task.ports.length === 0) {
          expect(bindings).toBeUndefined();
          return;
        }
        const published = Object.entries(bindings ?? {}).flatMap(([key, hosts]) =>
          hosts.map((h) => `${h.HostPort}->${key}`),
        );
        expect(published.sort()).toEqual(
          task.ports.map((p) => `${p.host}->${p.container}/${p.protocol}`).sort(),
        );
        expect(Object.keys(config.ExposedPorts ?? {}).sort()).toEqual(Object.keys(bindings ?? {}).sort());
      }),
    );
  });
});
