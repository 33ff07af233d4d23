/** What meshctl prints of values that come from the mesh: one visible line each, whatever a member wrote. */
import { describe, expect, it } from 'vitest';
import { printable, recordTable, table } from '../../src/cli/output.js';

const evil = 'gw\u001b[31m-1\nroot\u009b';

describe('meshctl output of values from the mesh', () => {
  it('shows control characters as \\x escapes, in columns and in key: value lines', () => {
    expect(printable(evil)).toBe('gw\\x1b[31m-1\\x0aroot\\x9b');
    const rows = table([{ name: evil }], [{ header: 'NAME', value: (r) => r.name }]);
    expect(rows).toBe('NAME\ngw\\x1b[31m-1\\x0aroot\\x9b\n');
    expect(recordTable([['Name', evil]])).toBe('Name: gw\\x1b[31m-1\\x0aroot\\x9b\n');
  });

  it('leaves printable text, accents and symbols as they are', () => {
    expect(printable('gw-1 (Zürich) → ok')).toBe('gw-1 (Zürich) → ok');
  });
});
