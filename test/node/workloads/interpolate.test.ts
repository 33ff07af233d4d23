// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the ${...} here are job-file interpolations, not JavaScript.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { type DeviceValues, interpolate, interpolateTask } from '../../../src/node/workloads/interpolate.js';

const values = (labels: Record<string, string> = {}, name = 'gate-1'): DeviceValues => ({
  node: { name, id: '12D3KooWpeer', arch: 'arm64', os: 'linux', labels },
  alloc: { id: 'cam.4.1.abcdef01', index: 4, ports: {} },
  job: { name: 'cam', version: 7 },
});

it('fills in every documented name', () => {
  const all =
    '${node.name} ${node.id} ${node.arch} ${node.os} ${node.label.zone} ${alloc.id} ${alloc.index} ${job.name} ${job.version}';
  expect(interpolate(all, values({ zone: 'north' }))).toBe(
    'gate-1 12D3KooWpeer arm64 linux north cam.4.1.abcdef01 4 cam 7',
  );
});

it('a label the device lacks is empty; an inherited property is no label', () => {
  expect(interpolate('[${node.label.zone}]', values())).toBe('[]');
  expect(interpolate('[${node.label.constructor}]', values())).toBe('[]');
});

it('a value can never add an argument or a variable: one element in, one element out, as the value says', () => {
  fc.assert(
    fc.property(fc.string(), fc.string(), (name, zone) => {
      const v = values({ zone }, name);
      const { args, env } = interpolateTask(['${node.name}', 'x'], { ZONE: '${node.label.zone}' }, v);
      expect(args).toEqual([name.replaceAll('\0', ''), 'x']);
      expect(env).toEqual({ ZONE: zone.replaceAll('\0', '') });
    }),
  );
});
