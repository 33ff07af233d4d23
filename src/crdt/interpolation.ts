/**
 * `${...}` in a job's `args` and `env` values: values the device fills in when it starts a copy (Nomad's
 * `${node.unique.name}`, `${NOMAD_ALLOC_INDEX}`). This file is the grammar, checked at submit; the device's
 * values and the substitution are in node/workloads/interpolate.ts. Only the `node.`, `alloc.` and `job.`
 * names are Mycel's: any other `${...}` is left as written, so a shell's `${HOME}` in `sh -c` args still reaches
 * the shell and specs stored before interpolation existed read the same. `$${` is a literal `${`. Pure.
 */

import { varKeyProblem, varPathProblem } from './var-entries.js';

/**
 * Every name a job may interpolate, as the README lists them; `node.label.<key>` stands for any label key,
 * `alloc.port.<name>` for any port the job declares (its host port on the device).
 */
export const INTERPOLATION_NAMES = [
  'node.name',
  'node.id',
  'node.arch',
  'node.os',
  'node.label.<key>',
  'alloc.id',
  'alloc.index',
  'alloc.port.<name>',
  'job.name',
  'job.version',
] as const;

const FIXED = new Set<string>(INTERPOLATION_NAMES.filter((n) => !n.includes('<')));
/** A label key as meshd accepts it (src/node/setup/config.ts). */
const LABEL = /^node\.label\.([a-zA-Z0-9]([a-zA-Z0-9._/-]{0,61}[a-zA-Z0-9])?)$/;
/** A port name as the job spec accepts it (job-spec-ports.ts); the spec checks that the job declares it. */
const PORT = /^alloc\.port\.([a-z]([a-z0-9-]{0,13}[a-z0-9])?)$/;

export type TemplatePart =
  | { readonly text: string }
  | { readonly name: string }
  | { readonly label: string }
  | { readonly var: string; readonly key: string }
  | { readonly port: string };

export type Template =
  | { readonly ok: true; readonly parts: readonly TemplatePart[] }
  | { readonly ok: false; readonly error: string };

const ALLOWED = `allowed: ${INTERPOLATION_NAMES.map((n) => `\${${n}}`).join(', ')}, \${var:PATH:KEY}; write $\${ for a literal \${`;
/** Mycel's names; any other `${...}` belongs to whatever reads the value (a shell) and is left alone. */
const OURS = /^((node|alloc|job)\.|var:)/;
/** `${var:PATH:KEY}`: a key of an encrypted variable the job is granted (job-spec-vars.ts checks the grant). */
const VAR = /^var:([^:]*):(.*)$/;

/** Splits `value` into literal text and the names to fill in, or says what is wrong with it. */
export function parseTemplate(value: string): Template {
  const parts: TemplatePart[] = [];
  let text = '';
  let i = 0;
  while (i < value.length) {
    if (value.startsWith('$${', i)) {
      text += '${';
      i += 3;
    } else if (value.startsWith('${', i)) {
      const end = value.indexOf('}', i + 2);
      const name = end < 0 ? value.slice(i + 2) : value.slice(i + 2, end);
      if (!OURS.test(name)) {
        text += '${';
        i += 2;
        continue;
      }
      if (end < 0)
        return { ok: false, error: `"\${" at character ${i + 1} is not closed by "}" (${ALLOWED})` };
      if (name.startsWith('var:')) {
        const ref = varReference(name);
        if (!ref.ok) return ref;
        if (text) parts.push({ text });
        text = '';
        parts.push(ref.part);
        i = end + 1;
        continue;
      }
      const label = LABEL.exec(name)?.[1];
      const port = PORT.exec(name)?.[1];
      if (!FIXED.has(name) && label === undefined && port === undefined)
        return { ok: false, error: `unknown name \${${name}} (${ALLOWED})` };
      if (text) parts.push({ text });
      text = '';
      parts.push(label !== undefined ? { label } : port !== undefined ? { port } : { name });
      i = end + 1;
    } else {
      text += value[i];
      i++;
    }
  }
  if (text) parts.push({ text });
  return { ok: true, parts };
}

function varReference(
  name: string,
): { ok: true; part: { var: string; key: string } } | { ok: false; error: string } {
  const match = VAR.exec(name);
  const problem = match
    ? (varPathProblem(match[1]!) ?? varKeyProblem(match[2]!))
    : `write \${var:PATH:KEY}, as \${var:app/db:password}`;
  return problem === undefined
    ? { ok: true, part: { var: match![1]!, key: match![2]! } }
    : { ok: false, error: `\${${name}}: ${problem}` };
}

/** The variables a value reads (`${var:PATH:KEY}`), in order; none for a value that does not parse. */
export function varReferences(value: string): { path: string; key: string }[] {
  const t = parseTemplate(value);
  return t.ok ? t.parts.flatMap((p) => ('var' in p ? [{ path: p.var, key: p.key }] : [])) : [];
}

/** For the job spec's schema: undefined when `value` is a valid template, else why not. */
export function templateProblem(value: string): string | undefined {
  const t = parseTemplate(value);
  return t.ok ? undefined : t.error;
}

/** What the JSON Schema and the README say of `args` and `env` values. */
export const INTERPOLATION_HELP = `May use \${...}, filled in on the device at start: ${INTERPOLATION_NAMES.map((n) => `\${${n}}`).join(', ')}, and in env \${var:PATH:KEY} for a key of a variable listed under vars. Other \${...} (a shell's \${HOME}) stay as written; $\${ is a literal \${.`;
