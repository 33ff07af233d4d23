import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { feasibilityClass, matches, staticFilter } from '../../src/scheduler/feasibility.js';
import { place } from '../../src/scheduler/placement.js';
import { alive, job, node } from './fixtures.js';

const serial = node('serial', { devices: ['/dev/ttyUSB0', '/dev/video0'], hostPaths: ['/var/lib/sensor'] });
const bare = node('bare');

describe('devices and host paths filter nodes', () => {
  test('a node without a device the job needs is infeasible, with the device named', () => {
    const sensor = job('sensor', { devices: ['/dev/ttyUSB0'] });
    expect(staticFilter(sensor, serial)).toBeUndefined();
    expect(staticFilter(sensor, bare)).toBe('missing device /dev/ttyUSB0');
    expect(staticFilter(job('cam', { devices: ['/dev/video0', '/dev/video1'] }), serial)).toBe(
      'missing device /dev/video1',
    );
  });

  test('a host path must lie under a prefix the node allows, path segments whole', () => {
    const at = (path: string) => staticFilter(job('j', { hostPaths: [path] }), serial);
    expect(at('/var/lib/sensor')).toBeUndefined();
    expect(at('/var/lib/sensor/raw')).toBeUndefined();
    expect(at('/var/lib/sensor2')).toBe('host path /var/lib/sensor2 not allowed');
    expect(at('/var/lib')).toBe('host path /var/lib not allowed');
    expect(staticFilter(job('j', { hostPaths: ['/var/lib/sensor'] }), bare)).toBe(
      'host path /var/lib/sensor not allowed',
    );
    expect(
      staticFilter(job('j', { hostPaths: ['/etc'] }), node('root', { hostPaths: ['/'] })),
    ).toBeUndefined();
  });

  test('constraints read device./dev/<name> as "true" when the node has it', () => {
    const has = { attribute: 'device./dev/ttyUSB0', operator: '=', value: 'true' } as const;
    expect(matches(serial, has)).toBe(true);
    expect(matches(bare, has)).toBe(false);
    expect(matches(bare, { ...has, operator: '!=' })).toBe(true);
  });

  test('devices and host paths are part of the feasibility class', () => {
    const a = job('a');
    expect(feasibilityClass(job('b', { devices: ['/dev/ttyUSB0'] }))).not.toBe(feasibilityClass(a));
    expect(feasibilityClass(job('c', { hostPaths: ['/srv'] }))).not.toBe(feasibilityClass(a));
  });

  test('a job asking for a device no node has is unplaced, every node filtered for that reason', () => {
    const nodes = [bare, node('other'), serial];
    const desired = place(
      [job('cam', { devices: ['/dev/video9'] })],
      nodes,
      [],
      alive(nodes.map((n) => n.peerId)),
      0,
    );
    expect(desired.allocs.filter((a) => a.status === 'run')).toEqual([]);
    expect(desired.unplaced[0]?.failure.filtered).toEqual({ 'missing device /dev/video9': 3 });
  });
});

const DEVICES = ['/dev/ttyUSB0', '/dev/ttyUSB1', '/dev/video0', '/dev/gpiochip0'];

test('property: every copy placed runs on a node that has all its devices and allows all its host paths', () => {
  fc.assert(
    fc.property(
      fc.array(fc.subarray(DEVICES), { minLength: 1, maxLength: 8 }),
      fc.array(fc.subarray(['/srv', '/var/lib/a']), { minLength: 8, maxLength: 8 }),
      fc.array(
        fc.record({
          devices: fc.subarray(DEVICES, { maxLength: 2 }),
          paths: fc.subarray(['/srv/x', '/var/lib/a']),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      (nodeDevices, nodePaths, wants) => {
        const nodes = nodeDevices.map((devices, i) =>
          node(`n${i}`, { devices, hostPaths: nodePaths[i] ?? [] }),
        );
        const jobs = wants.map((w, i) => job(`j${i}`, { count: 3, devices: w.devices, hostPaths: w.paths }));
        const desired = place(jobs, nodes, [], alive(nodes.map((n) => n.peerId)), 0);
        const byId = new Map(nodes.map((n) => [n.peerId, n]));
        for (const a of desired.allocs.filter((x) => x.status === 'run')) {
          const want = wants[Number(a.job.slice(1))]!;
          const at = byId.get(a.node)!;
          for (const d of want.devices) expect(at.devices).toContain(d);
          for (const p of want.paths)
            expect(at.hostPaths?.some((q) => p === q || p.startsWith(`${q}/`))).toBe(true);
        }
        // A job some node can take is placed: the filter refuses no node wrongly.
        for (const [i, w] of wants.entries()) {
          const fits = nodes.some((n) => staticFilter(jobs[i]!, n) === undefined);
          const placed = desired.allocs.some((a) => a.job === `j${i}` && a.status === 'run');
          const expected = nodes.some(
            (n) =>
              w.devices.every((d) => n.devices?.includes(d)) &&
              w.paths.every((p) => n.hostPaths?.some((q) => p === q || p.startsWith(`${q}/`))),
          );
          expect(fits).toBe(expected);
          expect(placed).toBe(expected);
        }
      },
    ),
    { numRuns: 200 },
  );
});
