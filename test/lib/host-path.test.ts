import fc from 'fast-check';
import { expect, test } from 'vitest';
import { absolutePathProblem, isUnder } from '../../src/lib/host-path.js';

const segment = fc
  .stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,11}$/)
  .filter((s) => s !== '.' && s !== '..');
const path = fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => `/${parts.join('/')}`);

test('property: a normalised path is accepted, and is under each of its ancestors and nothing beside them', () => {
  fc.assert(
    fc.property(path, path, (a, b) => {
      expect(absolutePathProblem(a)).toBeUndefined();
      const joined = `${a}${b}`;
      expect(isUnder(joined, a)).toBe(true);
      expect(isUnder(joined, '/')).toBe(true);
      expect(isUnder(a, joined)).toBe(false);
      // A sibling that merely shares the prefix as text is not under it.
      expect(isUnder(`${a}x`, a)).toBe(false);
    }),
  );
});

test('property: a path with a "." or ".." segment, an empty segment or a relative start is refused', () => {
  fc.assert(
    fc.property(path, fc.constantFrom('/..', '/.', '/'), path, (a, bad, b) => {
      expect(absolutePathProblem(`${a}${bad}${b}`)).toBeDefined();
      expect(absolutePathProblem(`${a.slice(1)}`)).toMatch(/absolute path/);
    }),
  );
});
