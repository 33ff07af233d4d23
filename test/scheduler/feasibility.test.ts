import { expect, test } from 'vitest';
import { feasibilityClass, matches, staticFilter } from '../../src/scheduler/feasibility.js';
import type { SchedConstraint } from '../../src/scheduler/types.js';
import { job, node } from './fixtures.js';

const pi = node('pi', { arch: 'arm64', labels: { zone: 'north' }, drivers: ['exec'] });

test.each([
  [{ attribute: 'arch', operator: '=', value: 'arm64' }, true],
  [{ attribute: 'arch', operator: '!=', value: 'arm64' }, false],
  [{ attribute: 'arch', operator: 'in', value: ['amd64', 'arm64'] }, true],
  [{ attribute: 'arch', operator: 'not_in', value: ['amd64', 'arm64'] }, false],
  [{ attribute: 'os', operator: '=', value: 'linux' }, true],
  [{ attribute: 'name', operator: '=', value: 'pi' }, true],
  [{ attribute: 'label.zone', operator: '=', value: 'north' }, true],
  // A missing attribute satisfies only the negative operators, as in Nomad.
  [{ attribute: 'label.rack', operator: '=', value: 'r1' }, false],
  [{ attribute: 'label.rack', operator: '!=', value: 'r1' }, true],
  [{ attribute: 'label.rack', operator: 'not_in', value: ['r1'] }, true],
  [{ attribute: 'label.rack', operator: 'in', value: ['r1'] }, false],
  [{ attribute: 'driver', operator: '=', value: 'exec' }, true],
  [{ attribute: 'driver', operator: '=', value: 'docker' }, false],
  [{ attribute: 'label.toString', operator: '=', value: 'x' }, false],
] satisfies [SchedConstraint, boolean][])('%o holds: %s', (constraint, holds) => {
  expect(matches(pi, constraint)).toBe(holds);
});

test('the first failing filter names what to fix', () => {
  expect(staticFilter(job('web'), pi)).toBe('missing driver docker');
  const exec = job('web', {
    driver: 'exec',
    constraints: [
      { attribute: 'label.zone', operator: '=', value: 'north' },
      { attribute: 'arch', operator: 'in', value: ['amd64', 'x86'] },
    ],
  });
  expect(staticFilter(exec, pi)).toBe('arch in [amd64,x86]');
  expect(staticFilter({ ...exec, constraints: exec.constraints!.slice(0, 1) }, pi)).toBeUndefined();
});

test('jobs share a feasibility class exactly when driver and constraints agree', () => {
  const a = job('a', { constraints: [{ attribute: 'arch', operator: '=', value: 'arm64' }] });
  expect(feasibilityClass(job('b', { constraints: a.constraints, count: 9 }))).toBe(feasibilityClass(a));
  expect(feasibilityClass(job('c', { constraints: a.constraints, driver: 'exec' }))).not.toBe(
    feasibilityClass(a),
  );
  expect(feasibilityClass(job('d'))).not.toBe(feasibilityClass(a));
});
