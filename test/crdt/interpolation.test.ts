// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the ${...} here are job-file interpolations, not JavaScript.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTemplate } from '../../src/crdt/interpolation.js';
import { validateJobSpec } from '../../src/crdt/job-spec.js';

describe('interpolation grammar', () => {
  it('splits text from the names the device fills in', () => {
    expect(parseTemplate('a ${node.name}-${node.label.site/zone} $${x} $5 ${alloc.index}')).toEqual({
      ok: true,
      parts: [
        { text: 'a ' },
        { name: 'node.name' },
        { text: '-' },
        { label: 'site/zone' },
        { text: ' ${x} $5 ' },
        { name: 'alloc.index' },
      ],
    });
  });

  it.each([
    [
      '${node.nme}',
      /unknown name \$\{node\.nme\} \(allowed: \$\{node\.name\}, .*\$\{node\.label\.<key>\}.*\$\{job\.version\}, \$\{var:PATH:KEY\}; write \$\$\{ for a literal \$\{\)/,
    ],
    ['${node.label.}', /unknown name \$\{node\.label\.\}/],
    ['${job.id}', /unknown name \$\{job\.id\}/],
    ['${node.name', /"\$\{" at character 1 is not closed by "\}"/],
  ])('refuses %s, naming what is allowed', (value, error) => {
    const t = parseTemplate(value);
    expect(t.ok).toBe(false);
    if (!t.ok) expect(t.error).toMatch(error);
  });

  it.each(['${HOME}', 'x ${} ${PATH:-/bin}', 'echo ${HOME', '${nodes.x}'])(
    'leaves %s as written: names outside node., alloc. and job. belong to whoever reads the value',
    (value) => {
      expect(parseTemplate(value)).toEqual({ ok: true, parts: [{ text: value }] });
    },
  );

  it('leaves any text without "${" as it is', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.includes('${')),
        (s) => {
          const t = parseTemplate(s);
          expect(t).toEqual({ ok: true, parts: s ? [{ text: s }] : [] });
        },
      ),
    );
  });
});

describe('job spec', () => {
  const job = (extra: object) => ({ name: 'cam', driver: 'exec', command: 'sh', ...extra });

  it('refuses an unknown name of its own in args or env, at the element; a shell variable is not one', () => {
    const result = validateJobSpec(
      job({ args: ['-c', 'echo ${HOME}', '${alloc.slot}'], env: { A: '${node.zone}' } }),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.path.join('.'))).toEqual(['args.2', 'env.A']);
    expect(result.issues[0]?.message).toMatch(/unknown name \$\{alloc\.slot\}.*write \$\$\{ for a literal/);
  });

  it('accepts the names it documents and the escape', () => {
    const result = validateJobSpec(
      job({ args: ['$${HOME}', '${node.label.zone}'], env: { A: '${alloc.id}' } }),
    );
    expect(result.ok).toBe(true);
  });
});
