/**
 * Fills a job's `${...}` names in with what this device knows when it starts a copy (the grammar, checked at
 * submit, is src/crdt/interpolation.ts). Pure. Each value becomes part of one argv element or one env value,
 * never a shell word: no value can add an argument, a variable or a command. A label the device does not have is
 * the empty string (a constraint on `label.<key>` places the job only where it is set).
 */
import { parseTemplate } from '../../crdt/interpolation.js';

export interface DeviceValues {
  readonly node: {
    readonly name: string;
    readonly id: string;
    readonly arch: string;
    readonly os: string;
    readonly labels: Readonly<Record<string, string>>;
  };
  /** `ports`: each port's host port on this device, dynamic ones included. */
  readonly alloc: {
    readonly id: string;
    readonly index: number;
    readonly ports: Readonly<Record<string, number>>;
  };
  readonly job: { readonly name: string; readonly version: number };
  /** The opened values of the variables the job is granted, by path; only env reads them (on a device the driver wrapper, var-driver.ts, fills them in at start). */
  readonly vars?: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

export function interpolate(value: string, values: DeviceValues): string {
  // The spec was validated at submit; a template that no longer parses (an older agent's rules) stays as written.
  const template = parseTemplate(value);
  if (!template.ok) return value;
  const named: Readonly<Record<string, string>> = {
    'node.name': values.node.name,
    'node.id': values.node.id,
    'node.arch': values.node.arch,
    'node.os': values.node.os,
    'alloc.id': values.alloc.id,
    'alloc.index': String(values.alloc.index),
    'job.name': values.job.name,
    'job.version': String(values.job.version),
  };
  return template.parts
    .map((p) =>
      'var' in p
        ? values.vars
          ? varValue(values.vars.get(p.var), p.key).replaceAll('\0', '')
          : varPlaceholder(p.var, p.key)
        : (
            ('text' in p
              ? p.text
              : 'label' in p
                ? ((Object.hasOwn(values.node.labels, p.label) ? values.node.labels[p.label] : '') ?? '')
                : 'port' in p
                  ? String(
                      (Object.hasOwn(values.alloc.ports, p.port) ? values.alloc.ports[p.port] : '') ?? '',
                    )
                  : (named[p.name] ?? '')) as string
          ).replaceAll('\0', ''),
    )
    .join('');
}

/**
 * Where a variable's value goes when the values are not at hand (task-spec.ts builds tasks without them): the
 * driver filling it in at start (var-driver.ts) finds it by the NULs, which no other part of a value can hold.
 */
export const varPlaceholder = (path: string, key: string): string => `\0var\0${path}\0${key}\0`;
export const VAR_PLACEHOLDER = /\0var\0([^\0]+)\0([^\0]+)\0/g;

function varValue(values: Readonly<Record<string, string>> | undefined, key: string): string {
  return values && Object.hasOwn(values, key) ? (values[key] ?? '') : '';
}

/**
 * `args` and `env` with every value filled in; names of variables are never touched. Variables reach env only:
 * args are visible to every user of the device (`ps`), so the spec refuses them there and they stay empty here.
 */
export function interpolateTask(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  values: DeviceValues,
): { args: string[]; env: Record<string, string> } {
  return {
    args: args.map((a) => interpolate(a, { ...values, vars: undefined })),
    env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(v, values)])),
  };
}
