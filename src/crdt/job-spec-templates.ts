/**
 * The job spec's `templates:` field: files the device renders (mustache) into a copy's directory before it
 * starts and again whenever their data changes (node/workloads/copy-templates.ts), then restarts or signals the
 * copy, or leaves it be. Checked here at submission: bounded sizes, a template that parses, and a destination
 * that stays inside the copy's directory. Optional with no default, so older specs keep their hash.
 */
import Mustache from 'mustache';
import * as z from 'zod';
import { unknownField } from './job-spec-messages.js';

export const TEMPLATE_LIMITS = { templates: 16, data: 16_384, rendered: 262_144, destination: 256 } as const;
const CHANGE_MODES = ['restart', 'signal', 'noop'] as const;
/** Signals a workload may ask for on change; the ones programs reload their configuration on, and the stops. */
const CHANGE_SIGNALS = ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGWINCH'] as const;

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const KEYS = ['destination', 'data', 'changeMode', 'changeSignal'];

/** Why `destination` cannot name a file inside the copy's directory, or undefined when it can. */
function destinationProblem(destination: string): string | undefined {
  if (destination.startsWith('/'))
    return "must be relative to the copy's directory, e.g. local/app.conf, not absolute";
  const segments = destination.split('/');
  if (segments.includes('..')) return 'must stay inside the copy\'s directory: ".." is not allowed';
  if (segments.length < 2)
    return "must be inside a directory of the copy's, e.g. local/app.conf (its top level holds the agent's files)";
  if (!segments.every((s) => SEGMENT.test(s)))
    return 'each part must be letters, digits, ".", "_" or "-", not starting with "." or "-" (no empty parts)';
  return undefined;
}

const templateSchema = z
  .strictObject(
    {
      destination: z
        .string()
        .min(1)
        .max(TEMPLATE_LIMITS.destination)
        .superRefine((value, ctx) => {
          const problem = destinationProblem(value);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: value });
        })
        .meta({
          description:
            "Path of the rendered file, relative to the copy's directory (MYCEL_ALLOC_DIR: an exec copy's " +
            'working directory; /mycel in a docker container), inside a directory of it: local/app.conf.',
        }),
      data: z
        .string()
        .max(TEMPLATE_LIMITS.data)
        .superRefine((value, ctx) => {
          try {
            Mustache.parse(value);
          } catch (err) {
            ctx.addIssue({
              code: 'custom',
              message: `not a valid mustache template: ${(err as Error).message}`,
            });
          }
        })
        .meta({
          description:
            'A mustache template. Data: node (name, id, arch, os, labels), alloc (id, index, ports), job (name, ' +
            'version), services (each service by name: its instances, with address, port, node, nodeName, ' +
            'allocId, tags, health). Values are not HTML-escaped.',
        }),
      changeMode: z
        .enum(CHANGE_MODES)
        .default('restart')
        .meta({ description: 'What a change of the rendered file does to a running copy.' }),
      changeSignal: z
        .enum(CHANGE_SIGNALS)
        .optional()
        .meta({ description: 'The signal sent with changeMode signal.' }),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys
              .slice(0, 16)
              .map((key) => unknownField(key, KEYS))
              .join('\n')
          : undefined,
    },
  )
  .meta({
    description: "A file rendered into the copy's directory, and rendered again when its data changes.",
  });

export const templateFields = {
  templates: z.array(templateSchema).max(TEMPLATE_LIMITS.templates).optional(),
};

export type JobTemplate = z.output<typeof templateSchema>;
type Issue = (path: (string | number)[], message: string) => void;

/** One template per destination; a signal with changeMode signal and only then. */
export function checkTemplateRules(
  job: { templates?: readonly JobTemplate[] | undefined },
  issue: Issue,
): void {
  const destinations = new Set<string>();
  (job.templates ?? []).forEach((t, index) => {
    if (destinations.has(t.destination))
      issue(['templates', index, 'destination'], `another template already renders ${t.destination}`);
    destinations.add(t.destination);
    if (t.changeMode === 'signal' && t.changeSignal === undefined)
      issue(['templates', index, 'changeSignal'], 'changeMode signal needs a changeSignal, e.g. SIGHUP');
    if (t.changeMode !== 'signal' && t.changeSignal !== undefined)
      issue(
        ['templates', index, 'changeSignal'],
        'only changeMode signal sends a signal: set changeMode signal',
      );
  });
}
