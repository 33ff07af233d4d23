import { describe, expect, it } from 'vitest';
import { parseJobFile } from '../../../../src/crdt/job-file.js';
import type { JobSpec } from '../../../../src/crdt/job-spec.js';
import { specChanges } from '../../../../src/node/api/routes/job-plan-routes.js';

function spec(lines: string[]): JobSpec {
  const parsed = parseJobFile(['name: web', 'driver: exec', 'command: /bin/true', ...lines].join('\n'));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.spec;
}

describe('job plan: the fields a file changes', () => {
  it('names changed, added and removed fields by dotted path; lists compare whole', () => {
    const before = spec(['count: 1', 'resources: { cpu: 100, memory: 32 }', 'args: ["a"]']);
    const after = spec(['count: 3', 'resources: { cpu: 200, memory: 32 }', 'args: ["a", "b"]']);
    expect(specChanges(before, after)).toEqual([
      { field: 'args', from: ['a'], to: ['a', 'b'] },
      { field: 'count', from: 1, to: 3 },
      { field: 'resources.cpu', from: 100, to: 200 },
    ]);
    expect(specChanges(after, after)).toEqual([]);
  });

  it('lists every field as new when there is no current version', () => {
    const changes = specChanges(undefined, spec(['count: 2']));
    expect(changes).toContainEqual({ field: 'count', to: 2 });
    expect(changes.every((c) => !('from' in c))).toBe(true);
  });
});
